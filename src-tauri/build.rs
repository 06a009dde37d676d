//! Build script: lets tauri-build read tauri.conf.json and the capabilities that live in
//! src-tauri/ (the app's package is the workspace root, so the default paths don't fit).
fn main() {
    let attributes =
        tauri_build::Attributes::new().capabilities_path_pattern("./src-tauri/capabilities/**/*");
    if let Err(error) = tauri_build::try_build(attributes) {
        // A build script reports failure by panicking; say what went wrong first.
        eprintln!("tauri-build failed: {error:#}");
        std::process::exit(1);
    }
}
