//! `migrate`: brings the database's schema up to date, once, for
//! deployments whose instances start with `serve --no-migrate`.

use sightline_server::datadir::DataDir;
use sightline_server::db::Migrations;

pub async fn run(dir: &DataDir) -> anyhow::Result<()> {
    let config = dir.load_config()?;
    let url = dir.database_url(&config);
    dir.open_db(&config, Migrations::Run).await?;
    println!("The database {url} is up to date.");
    Ok(())
}
