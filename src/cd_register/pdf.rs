//! The register as a printable PDF: landscape A4, every field wrapped in full across as many
//! lines as it needs, in DejaVu Sans Condensed embedded as a subset so that any name or note
//! prints as written. Objects are written with pdf-writer one at a time and each page is
//! emitted as soon as it is full, so a register of any length prints with memory bounded by one
//! page of text and the glyphs used.

use std::collections::BTreeMap;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::writers::Catalog;
use pdf_writer::{Chunk, Content, Filter, Name, Rect, Ref, Str};
use subsetter::GlyphRemapper;

const WIDTH: f32 = 842.0;
const HEIGHT: f32 = 595.0;
const MARGIN: f32 = 28.0;
const FONT_SIZE: f32 = 6.5;
const LINE: f32 = 8.0;
/// Space below each table row.
const ROW_GAP: f32 = 2.5;
const CATALOG: Ref = Ref::new(1);
const PAGE_TREE: Ref = Ref::new(2);
const REGULAR: Ref = Ref::new(3);
const BOLD: Ref = Ref::new(4);
const FIRST_FREE_OBJECT: i32 = 5;

/// One embedded typeface: the glyphs used so far, renumbered for the subset, with their
/// widths and the text they stand for.
struct Face {
    data: &'static [u8],
    face: ttf_parser::Face<'static>,
    base_name: &'static str,
    glyphs: GlyphRemapper,
    /// New glyph id -> (width in thousandths of an em, the character).
    used: BTreeMap<u16, (f32, char)>,
}

impl Face {
    fn load(data: &'static [u8], base_name: &'static str) -> Face {
        // The font is compiled in; failing to parse it is a build defect, not a run-time state.
        let face = ttf_parser::Face::parse(data, 0).expect("the embedded font parses");
        Face {
            data,
            face,
            base_name,
            glyphs: GlyphRemapper::new(),
            used: BTreeMap::new(),
        }
    }

    fn units(&self) -> f32 {
        f32::from(self.face.units_per_em())
    }

    fn advance(&self, c: char) -> f32 {
        let gid = self.face.glyph_index(c).unwrap_or(ttf_parser::GlyphId(0));
        f32::from(self.face.glyph_hor_advance(gid).unwrap_or(0)) / self.units() * FONT_SIZE
    }

    fn width(&self, s: &str) -> f32 {
        s.chars().map(|c| self.advance(c)).sum()
    }

    /// The text as two-byte glyph ids of the subset, remembering each glyph used.
    fn encode(&mut self, s: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(s.len() * 2);
        for c in s.chars() {
            let gid = self.face.glyph_index(c).unwrap_or(ttf_parser::GlyphId(0));
            let new = self.glyphs.remap(gid.0);
            let width =
                f32::from(self.face.glyph_hor_advance(gid).unwrap_or(0)) / self.units() * 1000.0;
            self.used.entry(new).or_insert((width, c));
            out.extend_from_slice(&new.to_be_bytes());
        }
        out
    }

    /// Breaks text into lines no wider than `width`: at spaces where it can, inside a word
    /// where a word alone is wider; nothing is cut.
    fn wrap(&self, s: &str, width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for paragraph in s.split('\n') {
            let mut line = String::new();
            for word in paragraph.split(' ') {
                let candidate = if line.is_empty() {
                    word.to_string()
                } else {
                    format!("{line} {word}")
                };
                if self.width(&candidate) <= width {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                for c in word.chars() {
                    if !line.is_empty() && self.width(&line) + self.advance(c) > width {
                        lines.push(std::mem::take(&mut line));
                    }
                    line.push(c);
                }
            }
            lines.push(line);
        }
        lines
    }
}

/// A section's columns, as (x, width), and their headings.
type Header = (Vec<(f32, f32)>, Vec<String>);

pub struct PdfWriter {
    written: u64,
    /// Byte offset of each object, indexed by object number (0 unused).
    offsets: Vec<u64>,
    pages: Vec<Ref>,
    content: Content,
    y: f32,
    page_open: bool,
    pub running_head: String,
    regular: Face,
    bold: Face,
    /// The current section's column headings, repeated at the top of each of its pages.
    header: Option<Header>,
}

fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 6)
}

impl PdfWriter {
    /// Starts a document; returns the writer and the header bytes.
    pub fn start() -> (PdfWriter, Vec<u8>) {
        let mut w = PdfWriter {
            written: 0,
            offsets: vec![0; FIRST_FREE_OBJECT as usize],
            pages: Vec::new(),
            content: Content::new(),
            y: 0.0,
            page_open: false,
            running_head: String::new(),
            regular: Face::load(
                dejavu::sans_condensed::regular(),
                "AAAAAA+DejaVuSansCondensed",
            ),
            bold: Face::load(
                dejavu::sans_condensed::bold(),
                "AAAAAB+DejaVuSansCondensed-Bold",
            ),
            header: None,
        };
        let mut out = Vec::new();
        w.emit(&mut out, b"%PDF-1.7\n%\x80\x80\x80\x80\n");
        (w, out)
    }

    fn emit(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(bytes);
        self.written += bytes.len() as u64;
    }

    fn allocate(&mut self) -> Ref {
        let id = self.offsets.len();
        self.offsets.push(0);
        Ref::new(id as i32)
    }

    /// Writes one object and records where it starts.
    fn object(&mut self, out: &mut Vec<u8>, id: Ref, write: impl FnOnce(&mut Chunk)) {
        let mut chunk = Chunk::new();
        write(&mut chunk);
        self.offsets[id.get() as usize] = self.written;
        self.emit(out, chunk.as_bytes());
    }

    fn new_page(&mut self, out: &mut Vec<u8>) {
        self.finish_page(out);
        self.page_open = true;
        self.y = HEIGHT - MARGIN;
        if !self.running_head.is_empty() {
            let head = self.running_head.clone();
            self.draw_row(out, &[(0.0, WIDTH - 2.0 * MARGIN)], &[head], true);
            self.y -= LINE * 0.5;
        }
        if let Some((columns, cells)) = self.header.clone() {
            self.draw_row(out, &columns, &cells, true);
        }
    }

    fn finish_page(&mut self, out: &mut Vec<u8>) {
        if !self.page_open {
            return;
        }
        let page_number = format!("Page {}", self.pages.len() + 1);
        let x = WIDTH - MARGIN - self.regular.width(&page_number);
        self.text(x, MARGIN / 2.0, &page_number, false);
        let content = std::mem::replace(&mut self.content, Content::new()).finish();
        let compressed = deflate(&content);
        let content_id = self.allocate();
        self.object(out, content_id, |c| {
            c.stream(content_id, &compressed)
                .filter(Filter::FlateDecode);
        });
        let page_id = self.allocate();
        self.object(out, page_id, |c| {
            let mut page = c.page(page_id);
            page.parent(PAGE_TREE)
                .media_box(Rect::new(0.0, 0.0, WIDTH, HEIGHT))
                .contents(content_id);
            page.resources()
                .fonts()
                .pair(Name(b"F1"), REGULAR)
                .pair(Name(b"F2"), BOLD);
        });
        self.pages.push(page_id);
        self.page_open = false;
    }

    fn text(&mut self, x: f32, y: f32, s: &str, bold: bool) {
        if s.is_empty() {
            return;
        }
        let (font, face) = if bold {
            (Name(b"F2"), &mut self.bold)
        } else {
            (Name(b"F1"), &mut self.regular)
        };
        let glyphs = face.encode(s);
        self.content
            .begin_text()
            .set_font(font, FONT_SIZE)
            .next_line(x, y)
            .show(Str(&glyphs))
            .end_text();
    }

    /// A row of cells, each wrapped within its column; a row longer than the rest of the page
    /// carries on at the top of the next.
    fn draw_row(
        &mut self,
        out: &mut Vec<u8>,
        columns: &[(f32, f32)],
        cells: &[String],
        bold: bool,
    ) {
        let face = if bold { &self.bold } else { &self.regular };
        let wrapped: Vec<Vec<String>> = columns
            .iter()
            .zip(cells)
            .map(|((_, w), cell)| face.wrap(cell, *w))
            .collect();
        let lines = wrapped.iter().map(Vec::len).max().unwrap_or(0);
        for i in 0..lines {
            if !self.page_open || self.y < MARGIN + LINE {
                self.new_page(out);
            }
            let y = self.y - FONT_SIZE;
            for ((x, _), cell_lines) in columns.iter().zip(&wrapped) {
                if let Some(line) = cell_lines.get(i) {
                    self.text(MARGIN + x, y, line, bold);
                }
            }
            self.y -= LINE;
        }
        self.y -= ROW_GAP;
    }

    /// Starts a new section on a new page with a title.
    pub fn section(&mut self, out: &mut Vec<u8>, title: &str) {
        self.header = None;
        self.new_page(out);
        self.draw_row(
            out,
            &[(0.0, WIDTH - 2.0 * MARGIN)],
            &[title.to_string()],
            true,
        );
    }

    /// One row of cells at the given (x, width) columns. A bold row is the section's column
    /// headings, repeated on each page the section runs to.
    pub fn row(&mut self, out: &mut Vec<u8>, columns: &[(f32, f32)], cells: &[String], bold: bool) {
        if bold {
            self.header = Some((columns.to_vec(), cells.to_vec()));
        }
        self.draw_row(out, columns, cells, bold);
    }

    /// A line of free text across the page.
    pub fn line(&mut self, out: &mut Vec<u8>, s: &str, bold: bool) {
        self.draw_row(out, &[(0.0, WIDTH - 2.0 * MARGIN)], &[s.to_string()], bold);
    }

    /// Writes one typeface's subset, descriptor, widths and text mapping, as the font object
    /// `id` refers to.
    fn write_font(&mut self, out: &mut Vec<u8>, id: Ref, bold: bool) {
        let (cid, descriptor, file, cmap) = (
            self.allocate(),
            self.allocate(),
            self.allocate(),
            self.allocate(),
        );
        let face = if bold { &self.bold } else { &self.regular };
        // The subsetter keeps the glyph numbering the pages were written with.
        let subset = subsetter::subset(face.data, 0, &face.glyphs).unwrap_or_default();
        let compressed = deflate(&subset);
        let base = face.base_name;
        let units = face.units();
        let scale = |v: i16| f32::from(v) / units * 1000.0;
        let bbox = face.face.global_bounding_box();
        let (ascent, descent) = (scale(face.face.ascender()), scale(face.face.descender()));
        let cap_height = scale(face.face.capital_height().unwrap_or(face.face.ascender()));
        let widths: Vec<(u16, f32)> = face.used.iter().map(|(g, (w, _))| (*g, *w)).collect();
        let mut unicode = UnicodeCmap::new(
            Name(b"Custom"),
            SystemInfo {
                registry: Str(b"Adobe"),
                ordering: Str(b"Identity"),
                supplement: 0,
            },
        );
        for (g, (_, c)) in &face.used {
            unicode.pair(*g, *c);
        }
        let unicode = unicode.finish();
        self.object(out, file, |c| {
            c.stream(file, &compressed)
                .filter(Filter::FlateDecode)
                .pair(Name(b"Length1"), subset.len() as i32);
        });
        self.object(out, descriptor, |c| {
            c.font_descriptor(descriptor)
                .name(Name(base.as_bytes()))
                .flags(FontFlags::NON_SYMBOLIC)
                .bbox(Rect::new(
                    scale(bbox.x_min),
                    scale(bbox.y_min),
                    scale(bbox.x_max),
                    scale(bbox.y_max),
                ))
                .italic_angle(0.0)
                .ascent(ascent)
                .descent(descent)
                .cap_height(cap_height)
                .stem_v(if bold { 140.0 } else { 80.0 })
                .font_file2(file);
        });
        self.object(out, cid, |c| {
            let mut font = c.cid_font(cid);
            font.subtype(CidFontType::Type2)
                .base_font(Name(base.as_bytes()))
                .system_info(SystemInfo {
                    registry: Str(b"Adobe"),
                    ordering: Str(b"Identity"),
                    supplement: 0,
                })
                .font_descriptor(descriptor)
                .default_width(0.0)
                .cid_to_gid_map_predefined(Name(b"Identity"));
            let mut w = font.widths();
            for (g, width) in &widths {
                w.consecutive(*g, [*width]);
            }
        });
        self.object(out, cmap, |c| {
            c.cmap(cmap, &unicode);
        });
        self.object(out, id, |c| {
            c.type0_font(id)
                .base_font(Name(base.as_bytes()))
                .encoding_predefined(Name(b"Identity-H"))
                .descendant_font(cid)
                .to_unicode(cmap);
        });
    }

    /// Ends the document: fonts, page tree, catalog, cross-reference table and trailer.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        if self.pages.is_empty() {
            self.new_page(out);
        }
        self.finish_page(out);
        self.write_font(out, REGULAR, false);
        self.write_font(out, BOLD, true);
        let pages = self.pages.clone();
        self.object(out, PAGE_TREE, |c| {
            c.pages(PAGE_TREE)
                .kids(pages.iter().copied())
                .count(pages.len() as i32);
        });
        self.object(out, CATALOG, |c| {
            c.indirect(CATALOG).start::<Catalog>().pages(PAGE_TREE);
        });
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
    fn every_cross_reference_points_at_its_object_and_long_text_wraps() {
        let (mut w, mut out) = PdfWriter::start();
        w.section(&mut out, "Methadone (1 mg/ml) — page");
        w.row(
            &mut out,
            &[(0.0, 50.0), (60.0, 50.0)],
            &["Date".into(), "Party".into()],
            true,
        );
        for i in 0..130 {
            w.row(
                &mut out,
                &[(0.0, 50.0), (60.0, 50.0)],
                &[format!("row {i}"), "a (b) \\ c".into()],
                false,
            );
        }
        let long = "Midlands Pharmaceutical Wholesale Limited, Unit 4, Trent Valley Trading Estate";
        assert!(w.regular.wrap(long, 50.0).len() > 2);
        assert_eq!(w.regular.wrap(long, 50.0).join(" "), long);
        w.finish(&mut out);
        let text: String = out
            .iter()
            .map(|&b| if b.is_ascii() { b as char } else { '?' })
            .collect();
        assert!(text.starts_with("%PDF-1.7"));
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
        assert!(text.contains("/FontFile2"));
        assert!(text.contains("/Count 3"), "130 rows run to three pages");
    }
}
