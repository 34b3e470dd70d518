//! `cargo run -p first-service -- redis://127.0.0.1:6379`

#[tokio::main]
async fn main() -> Result<(), first_service::BoxError> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let report = first_service::run(&url).await?;
    println!("wrote {} -> {:?}", report.session_key, report.session);
    println!(
        "failed logins allowed before the limit: {}",
        report.failed_logins_allowed
    );
    println!("changed the account under lock, fencing token {}", report.fence);
    Ok(())
}
