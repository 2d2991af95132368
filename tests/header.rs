//! The checked-in C header must be exactly what cbindgen generates from src/ffi.rs.
//! To update it: `UPDATE_HEADER=1 cargo test --test header`.

#[test]
fn checked_in_header_is_current() {
    let root = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(format!("{root}/cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(format!("{root}/src/ffi.rs"))
        .generate()
        .expect("cbindgen failed")
        .write(&mut generated);
    let path = format!("{root}/include/etcdhosts.h");
    if std::env::var_os("UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read(&path).unwrap();
    assert!(
        checked_in == generated,
        "include/etcdhosts.h is stale: run `UPDATE_HEADER=1 cargo test --test header` and commit it"
    );
}

/// The header must compile as C (and C++): a name clash between a type and a function, for
/// one, is legal Rust but not C.
#[test]
fn header_compiles_as_c_and_cpp() {
    let header = concat!(env!("CARGO_MANIFEST_DIR"), "/include/etcdhosts.h");
    for (compiler, lang) in [("cc", "c"), ("c++", "c++")] {
        let out = std::process::Command::new(compiler)
            .args(["-fsyntax-only", "-Wall", "-Werror", "-x", lang, header])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
        assert!(
            out.status.success(),
            "{compiler} rejects the header:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
