//! Generates the parser from `grammar/exprjit.lalrpop` into `OUT_DIR`.
fn main() {
    lalrpop::Configuration::new()
        .set_in_dir("grammar")
        .set_out_dir(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .process()
        .expect("lalrpop failed to generate the parser from grammar/");
    println!("cargo:rerun-if-changed=grammar");
}
