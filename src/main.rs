fn main() {
    println!("o365-ldap: under construction");
}
