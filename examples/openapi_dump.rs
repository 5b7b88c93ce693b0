fn main() {
    println!("{:#}", prison_pharmacy::openapi::document());
}
