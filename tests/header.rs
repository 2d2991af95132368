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
