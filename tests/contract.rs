//! The OpenAPI document is a contract clients are generated from: it validates against the
//! OpenAPI 3.1 schema (vendored from the OpenAPI Initiative, `tests/schemas/openapi-3.1.json`),
//! every reference resolves, ids are unique, parameters sit where they are sent, and a committed
//! snapshot shows every change to it in review.

use serde_json::Value;

fn document() -> Value {
    prison_pharmacy::openapi::document()
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let meta: Value =
        serde_json::from_str(include_str!("schemas/openapi-3.1.json")).expect("meta-schema");
    let validator = jsonschema::validator_for(&meta).expect("the meta-schema compiles");
    let doc = document();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(doc["openapi"], "3.1.0");
    // The validator does catch a broken document: a parameter sent in a place OpenAPI lacks.
    let mut broken = doc.clone();
    broken["paths"]["/api/v1/doses/{id}"]["get"]["parameters"][0]["in"] = "body".into();
    assert!(!validator.is_valid(&broken));
}

fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r);
            }
            m.values().for_each(|x| walk(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves_and_every_operation_is_unique_and_well_placed() {
    let doc = document();
    let mut refs = Vec::new();
    walk(&doc, &mut refs);
    assert!(refs.len() > 100);
    for r in refs {
        let pointer = r.strip_prefix('#').expect("local reference");
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let in_path: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_string()), "operationId {id} twice");
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for p in &params {
                let name = p["name"].as_str().unwrap();
                match p["in"].as_str().unwrap() {
                    "path" => assert!(
                        in_path.contains(&name),
                        "{method} {path}: {name} is not in the path"
                    ),
                    "query" => assert!(!in_path.contains(&name), "{method} {path}: {name}"),
                    other => assert_eq!(other, "header", "{method} {path}: {name}"),
                }
            }
            for name in &in_path {
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == *name && p["in"] == "path"),
                    "{method} {path}: {{{name}}} undeclared"
                );
            }
            // Every problem is served as application/problem+json, and documented so.
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        response["content"].get("application/json").is_none(),
                        "{method} {path} {status}"
                    );
                }
            }
            if op.get("security").is_some() {
                for status in ["401", "403"] {
                    assert!(
                        op["responses"].get(status).is_some(),
                        "{method} {path} {status}"
                    );
                }
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "415", "422"] {
                    assert!(
                        op["responses"].get(status).is_some(),
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    // Enumerations list the values sent and received.
    assert_eq!(
        doc["components"]["schemas"]["Slot"]["enum"],
        serde_json::json!(["morning", "lunchtime", "teatime", "night"])
    );
}

#[test]
fn the_document_matches_its_committed_snapshot() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    let served = format!("{:#}\n", document());
    if std::env::var_os("UPDATE_OPENAPI_SNAPSHOT").is_some() {
        std::fs::write(path, &served).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == served,
        "the API document changed: review it and run UPDATE_OPENAPI_SNAPSHOT=1 cargo test --test contract"
    );
}
