//! The `skiff` command.

fn main() {
    println!("skiff");
}
