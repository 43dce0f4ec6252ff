//! Deterministic shrinking of an event that does not fit the size limit.
//!
//! Values are never cut: whole values are replaced by a marker string
//! `"[truncated by auditfwd: N bytes]"`, so the payload stays valid JSON and says what
//! went. Phases, each repeated until it has nothing left to give:
//! 1. the known free-form parts (`response.payload`, `request.headers`, ...), largest first;
//! 2. any string longer than [`WORTH`] bytes, largest first;
//! 3. any object or array, largest first;
//! 4. the whole `data` object.
//!
//! The envelope (`eventId`, `eventType`, `eventTime`, ...) is never touched. Within a
//! phase, enough values are replaced in one step to cover the excess, so a 1 MB event
//! needs a few re-encodings, not thousands. Ties break by path, so the result depends
//! only on the event and the limit.

use serde_json::Value;

/// Free-form parts of an OCI audit event, in order of preference among equal sizes.
const FREE_FORM: &[&str] = &[
    "/data/response/payload",
    "/data/request/headers",
    "/data/additionalDetails",
    "/data/response/headers",
    "/data/stateChange/previous",
    "/data/stateChange/current",
    "/data/request/parameters",
    "/data/definedTags",
    "/data/freeformTags",
];

/// Envelope keys that are never replaced.
const ENVELOPE: &[&str] = &[
    "eventId",
    "eventType",
    "eventTime",
    "source",
    "cloudEventsVersion",
    "eventTypeVersion",
    "contentType",
];

/// Values smaller than this are not worth replacing (the marker is about 40 bytes).
const WORTH: usize = 64;

pub(crate) fn marker(size: usize) -> Value {
    Value::String(format!("[truncated by auditfwd: {size} bytes]"))
}

fn is_marker(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.starts_with("[truncated by auditfwd: "))
}

/// Serialized (compact JSON) length of a value, without allocating it.
pub(crate) fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    super::text::write_json(&mut c, v);
    c.0
}

fn push_pointer_token(p: &mut String, key: &str) {
    p.push('/');
    for c in key.chars() {
        match c {
            '~' => p.push_str("~0"),
            '/' => p.push_str("~1"),
            c => p.push(c),
        }
    }
}

/// Collects (pointer, size) of the values a phase may replace.
fn collect(v: &Value, path: &mut String, strings: bool, out: &mut Vec<(String, usize)>) {
    let depth_len = path.len();
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if path.is_empty() && ENVELOPE.contains(&k.as_str()) {
                    continue;
                }
                push_pointer_token(path, k);
                visit(child, path, strings, out);
                path.truncate(depth_len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                path.push('/');
                path.push_str(&i.to_string());
                visit(child, path, strings, out);
                path.truncate(depth_len);
            }
        }
        _ => {}
    }
}

fn visit(child: &Value, path: &mut String, strings: bool, out: &mut Vec<(String, usize)>) {
    if is_marker(child) {
        return;
    }
    match child {
        Value::String(_) if strings => {
            let n = json_len(child);
            if n > WORTH {
                out.push((path.clone(), n));
            }
        }
        Value::Object(_) | Value::Array(_) => {
            if !strings {
                let n = json_len(child);
                if n > WORTH {
                    out.push((path.clone(), n));
                }
            }
            collect(child, path, strings, out);
        }
        _ => {}
    }
}

/// Shrinks a copy of an event body step by step.
#[derive(Debug)]
pub(crate) struct Shrinker {
    body: Value,
    phase: u8,
}

impl Shrinker {
    pub(crate) fn new(body: Value) -> Self {
        Self { body, phase: 0 }
    }

    pub(crate) fn body(&self) -> &Value {
        &self.body
    }

    /// Replaces values to remove at least `excess` bytes if the current phase can,
    /// moving on to later phases otherwise. False when nothing is left to replace.
    pub(crate) fn step(&mut self, excess: usize) -> bool {
        loop {
            let mut candidates: Vec<(String, usize)> = match self.phase {
                0 => FREE_FORM
                    .iter()
                    .filter_map(|p| {
                        let v = self.body.pointer(p)?;
                        let n = json_len(v);
                        (!is_marker(v) && n > WORTH).then(|| ((*p).to_owned(), n))
                    })
                    .collect(),
                1 | 2 => {
                    let mut out = Vec::new();
                    collect(&self.body, &mut String::new(), self.phase == 1, &mut out);
                    out
                }
                3 => match self.body.pointer("/data") {
                    Some(v) if !is_marker(v) && !v.is_null() => {
                        vec![("/data".to_owned(), json_len(v))]
                    }
                    _ => Vec::new(),
                },
                _ => return false,
            };
            if candidates.is_empty() {
                self.phase += 1;
                continue;
            }
            // Largest first; equal sizes keep FREE_FORM order (phase 0) or path order.
            if self.phase == 0 {
                candidates.sort_by_key(|c| std::cmp::Reverse(c.1));
            } else {
                candidates.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            }
            let mut saved = 0usize;
            let mut chosen: Vec<&(String, usize)> = Vec::new();
            for c in &candidates {
                // A value inside one already chosen goes with it.
                if chosen
                    .iter()
                    .any(|p| c.0.starts_with(&p.0) && c.0.as_bytes().get(p.0.len()) == Some(&b'/'))
                {
                    continue;
                }
                chosen.push(c);
                saved += c.1.saturating_sub(json_len(&marker(c.1)));
                if saved >= excess {
                    break;
                }
            }
            for (pointer, size) in chosen {
                if let Some(v) = self.body.pointer_mut(pointer) {
                    *v = marker(*size);
                }
            }
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_len_matches_serialization() {
        let v = json!({"a": "é\n\"", "b": [1, 2.5, null, true]});
        assert_eq!(json_len(&v), serde_json::to_vec(&v).unwrap().len());
        // U+2028 is written as a 6-byte escape, not its 3 UTF-8 bytes.
        let v = json!({"a": "x\u{2028}y"});
        assert_eq!(json_len(&v), r#"{"a":"x\u2028y"}"#.len());
    }

    #[test]
    fn free_form_parts_go_first_largest_first() {
        let big = "x".repeat(1000);
        let bigger = "y".repeat(2000);
        let body = json!({
            "eventId": "e",
            "data": {
                "resourceName": big.clone(),
                "request": {"headers": {"Authorization": [big.clone()]}},
                "response": {"payload": {"blob": bigger}},
            }
        });
        let mut s = Shrinker::new(body);
        assert!(s.step(100));
        let b = s.body();
        assert_eq!(
            b["data"]["response"]["payload"],
            json!("[truncated by auditfwd: 2011 bytes]")
        );
        assert_eq!(
            b["data"]["request"]["headers"]["Authorization"][0],
            json!(big.clone())
        );
        assert_eq!(b["data"]["resourceName"], json!(big));
        // Next step takes the headers, then phase 1 reaches the plain string.
        assert!(s.step(100));
        assert!(s.body()["data"]["request"]["headers"].is_string());
        assert!(s.step(100));
        assert!(s.body()["data"]["resourceName"].is_string());
        assert!(is_marker(&s.body()["data"]["resourceName"]));
        assert_eq!(s.body()["eventId"], json!("e"));
    }

    #[test]
    fn envelope_is_never_replaced_and_shrinking_ends() {
        let body = json!({"eventId": "e".repeat(500), "eventType": "t".repeat(500), "data": {"k": "v".repeat(100)}});
        let mut s = Shrinker::new(body);
        let mut steps = 0;
        while s.step(10_000) {
            steps += 1;
            assert!(steps < 10, "shrinking must terminate");
        }
        assert_eq!(s.body()["eventId"].as_str().unwrap().len(), 500);
        assert!(is_marker(&s.body()["data"]));
    }

    #[test]
    fn same_input_same_output() {
        let body =
            json!({"data": {"a": "x".repeat(300), "b": "y".repeat(300), "c": ["z".repeat(300)]}});
        let mut s1 = Shrinker::new(body.clone());
        let mut s2 = Shrinker::new(body);
        s1.step(200);
        s2.step(200);
        assert_eq!(s1.body(), s2.body());
        // Equal sizes: path order decides; "/data/a" < "/data/b" < "/data/c/0".
        assert!(is_marker(&s1.body()["data"]["a"]));
        assert!(!is_marker(&s1.body()["data"]["b"]));
    }
}
