//! A small PDF writer that emits each page as soon as it is full, so a register of any length
//! prints with memory bounded by one page of text (plus a few bytes of cross-reference per
//! page). Standard Helvetica, so nothing is embedded; landscape A4.

const WIDTH: f32 = 842.0;
const HEIGHT: f32 = 595.0;
const MARGIN: f32 = 28.0;
const LINE: f32 = 9.0;
const FONT_SIZE: f32 = 6.5;
/// Objects 1-4 are fixed: catalog, page tree, regular and bold font.
const FIRST_FREE_OBJECT: usize = 5;

pub struct PdfWriter {
    written: u64,
    /// Byte offset of each object, indexed by object number (0 unused).
    offsets: Vec<u64>,
    pages: Vec<usize>,
    content: String,
    y: f32,
    page_open: bool,
    pub running_head: String,
}

/// Text a standard PDF font can show: printable ASCII, with the string delimiters escaped.
fn pdf_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// Cuts text to what fits in a column at the font size (Helvetica averages about half an em).
fn fit(s: &str, width: f32) -> String {
    let max = ((width / (FONT_SIZE * 0.5)) as usize).max(1);
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('~');
        t
    }
}

impl PdfWriter {
    /// Starts a document; returns the writer and the header bytes.
    pub fn start() -> (PdfWriter, Vec<u8>) {
        let mut w = PdfWriter {
            written: 0,
            offsets: vec![0; FIRST_FREE_OBJECT],
            pages: Vec::new(),
            content: String::new(),
            y: 0.0,
            page_open: false,
            running_head: String::new(),
        };
        let mut out = Vec::new();
        w.emit(&mut out, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n");
        w.object(
            &mut out,
            3,
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        );
        w.object(&mut out, 4, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>");
        (w, out)
    }

    fn emit(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(bytes);
        self.written += bytes.len() as u64;
    }

    fn object(&mut self, out: &mut Vec<u8>, number: usize, body: &str) {
        if self.offsets.len() <= number {
            self.offsets.resize(number + 1, 0);
        }
        self.offsets[number] = self.written;
        self.emit(out, format!("{number} 0 obj\n{body}\nendobj\n").as_bytes());
    }

    fn next_object(&self) -> usize {
        self.offsets.len()
    }

    fn new_page(&mut self, out: &mut Vec<u8>) {
        self.finish_page(out);
        self.page_open = true;
        self.y = HEIGHT - MARGIN;
        if !self.running_head.is_empty() {
            let head = self.running_head.clone();
            self.text(0.0, &head, true, WIDTH);
            self.y -= LINE * 1.5;
        }
    }

    fn finish_page(&mut self, out: &mut Vec<u8>) {
        if !self.page_open {
            return;
        }
        let page_number = self.pages.len() + 1;
        self.content.push_str(&format!(
            "BT /F1 {FONT_SIZE} Tf {} {} Td (Page {page_number}) Tj ET\n",
            WIDTH - MARGIN - 30.0,
            MARGIN / 2.0
        ));
        let content = std::mem::take(&mut self.content);
        let content_obj = self.next_object();
        self.object(
            out,
            content_obj,
            &format!(
                "<< /Length {} >>\nstream\n{content}endstream",
                content.len()
            ),
        );
        let page_obj = self.next_object();
        self.object(
            out,
            page_obj,
            &format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {WIDTH} {HEIGHT}] \
                 /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {content_obj} 0 R >>"
            ),
        );
        self.pages.push(page_obj);
        self.page_open = false;
    }

    fn text(&mut self, x: f32, s: &str, bold: bool, width: f32) {
        let font = if bold { "F2" } else { "F1" };
        self.content.push_str(&format!(
            "BT /{font} {FONT_SIZE} Tf {} {} Td ({}) Tj ET\n",
            MARGIN + x,
            self.y,
            pdf_text(&fit(s, width))
        ));
    }

    /// Starts a new section on a new page with a title line.
    pub fn section(&mut self, out: &mut Vec<u8>, title: &str) {
        self.new_page(out);
        self.text(0.0, title, true, WIDTH);
        self.y -= LINE * 1.5;
    }

    /// One line of cells at the given x positions (each cell cut to the next position).
    pub fn row(&mut self, out: &mut Vec<u8>, columns: &[(f32, f32)], cells: &[String], bold: bool) {
        if !self.page_open || self.y < MARGIN + LINE {
            self.new_page(out);
        }
        for ((x, w), cell) in columns.iter().zip(cells) {
            self.text(*x, cell, bold, *w);
        }
        self.y -= LINE;
    }

    /// A line of free text across the page.
    pub fn line(&mut self, out: &mut Vec<u8>, s: &str, bold: bool) {
        self.row(out, &[(0.0, WIDTH - 2.0 * MARGIN)], &[s.to_string()], bold);
    }

    /// Ends the document: page tree, catalog, cross-reference table and trailer.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        if self.pages.is_empty() {
            self.new_page(out);
        }
        self.finish_page(out);
        let kids: Vec<String> = self.pages.iter().map(|p| format!("{p} 0 R")).collect();
        let tree = format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            self.pages.len()
        );
        self.object(out, 2, &tree);
        self.object(out, 1, "<< /Type /Catalog /Pages 2 0 R >>");
        let xref_at = self.written;
        let mut xref = format!("xref\n0 {}\n0000000000 65535 f \n", self.offsets.len());
        for offset in &self.offsets[1..] {
            xref.push_str(&format!("{offset:010} 00000 n \n"));
        }
        xref.push_str(&format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n",
            self.offsets.len()
        ));
        self.emit(out, xref.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cross_reference_points_at_its_object() {
        let (mut w, mut out) = PdfWriter::start();
        w.section(&mut out, "Methadone (1 mg/ml) — page");
        for i in 0..130 {
            w.row(
                &mut out,
                &[(0.0, 50.0), (60.0, 50.0)],
                &[format!("row {i}"), "a (b) \\ c".into()],
                false,
            );
        }
        w.finish(&mut out);
        // One char per byte, so string offsets are byte offsets.
        let text: String = out
            .iter()
            .map(|&b| if b.is_ascii() { b as char } else { '?' })
            .collect();
        assert!(text.starts_with("%PDF-1.4"));
        assert!(text.ends_with("%%EOF\n"));
        let start: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(text[start..].starts_with("xref\n"));
        let entries: Vec<&str> = text[start..]
            .lines()
            .skip(3)
            .take_while(|l| !l.starts_with("trailer"))
            .collect();
        for (i, e) in entries.iter().enumerate() {
            let offset: usize = e[..10].parse().unwrap();
            assert!(
                text[offset..].starts_with(&format!("{} 0 obj", i + 1)),
                "object {}",
                i + 1
            );
        }
        // 130 rows at about 60 a page: three pages.
        assert!(text.contains("/Count 3 >>"));
        assert!(text.contains("(a \\(b\\) \\\\ c)"));
        assert!(text.contains("Methadone \\(1 mg/ml\\) ? page"));
    }
}
