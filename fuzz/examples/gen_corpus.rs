//! Writes the seed corpora: `corpus/TARGET/NAME` for every seed of
//! `rsmbd_fuzz::seeds::all`. Run from the fuzz directory:
//! `cargo run --example gen_corpus`.

fn main() -> std::io::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, name, data) in rsmbd_fuzz::seeds::all() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), &data)?;
        println!("{target}/{name}: {} bytes", data.len());
    }
    Ok(())
}
