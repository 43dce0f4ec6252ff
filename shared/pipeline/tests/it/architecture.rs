//! `docs/architecture.md` walks the data path file by file; every path it names must exist, so
//! a rename that forgets the page fails here.

use std::path::Path;

#[test]
fn every_file_the_architecture_page_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let page = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let named: Vec<&str> = page
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.contains('/') && s.ends_with(".rs"))
        .collect();
    assert!(named.len() >= 20, "the page names too few files: {named:?}");
    let missing: Vec<&&str> = named.iter().filter(|p| !root.join(p).is_file()).collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md names files that do not exist: {missing:?}"
    );
    // Every step of the runner has its file on the page.
    let runner = root.join("shared/pipeline/src/runner");
    for entry in std::fs::read_dir(&runner).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let path = format!("shared/pipeline/src/runner/{name}");
        assert!(
            named.contains(&path.as_str()),
            "docs/architecture.md does not mention {path}"
        );
    }
}
