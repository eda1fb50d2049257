//! Built certificate packages waiting for their one download.
//!
//! A package holds a private key, so it is stored sealed: AES-256-GCM under
//! a key derived from the download token, which only the download URL
//! carries (the database keeps the token's SHA-256 to find the row, and
//! nothing that opens it). Storing it in the database lets the download
//! reach any instance behind a load balancer, and survive a restart; one
//! statement fetches and deletes it, so two downloads racing on two
//! instances get it once.

use crate::auth::{random_token, token_hash};
use crate::db::Db;
use crate::error::{Error, Result};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sightline_certs::package::Package;

/// How long a built package waits for its download.
pub const TTL_SECS: i64 = 15 * 60;

/// Seals `package` and stores it; returns the download token.
pub async fn put(db: &Db, package: Package, now: i64) -> Result<String> {
    let token = random_token();
    let sealed = seal(&token, package.zip)?;
    sqlx::query("DELETE FROM sealed_packages WHERE expires_at <= $1")
        .bind(now)
        .execute(db)
        .await?;
    sqlx::query(
        "INSERT INTO sealed_packages (token_hash, sealed, file_name, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash(&token))
    .bind(sealed)
    .bind(&package.file_name)
    .bind(now + TTL_SECS)
    .execute(db)
    .await?;
    Ok(token)
}

/// The package behind `token`, once; `None` when unknown, fetched already
/// or expired.
pub async fn take(db: &Db, token: &str, now: i64) -> Result<Option<Package>> {
    let row: Option<(Vec<u8>, String, i64)> = sqlx::query_as(
        "DELETE FROM sealed_packages WHERE token_hash = $1 RETURNING sealed, file_name, expires_at",
    )
    .bind(token_hash(token))
    .fetch_optional(db)
    .await?;
    let Some((sealed, file_name, _)) = row.filter(|(_, _, expires_at)| *expires_at > now) else {
        return Ok(None);
    };
    Ok(Some(Package {
        file_name,
        zip: open(token, sealed)?,
    }))
}

/// The sealing key: SHA-256 of the token under a label of its own, so it
/// differs from the stored lookup hash.
fn key(token: &str) -> Result<LessSafeKey> {
    let mut material = b"sightline sealed package v1\0".to_vec();
    material.extend_from_slice(token.as_bytes());
    let digest = sightline_certs::sha256(&material);
    let key = UnboundKey::new(&AES_256_GCM, &digest).map_err(|_| Error::Sealing)?;
    Ok(LessSafeKey::new(key))
}

fn seal(token: &str, mut plain: Vec<u8>) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).map_err(|_| Error::Sealing)?;
    key(token)?
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut plain)
        .map_err(|_| Error::Sealing)?;
    let mut sealed = nonce.to_vec();
    sealed.append(&mut plain);
    Ok(sealed)
}

fn open(token: &str, sealed: Vec<u8>) -> Result<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return Err(Error::Sealing);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::Sealing)?;
    let mut body = body.to_vec();
    let plain_len = key(token)?
        .open_in_place(nonce, Aad::empty(), &mut body)
        .map_err(|_| Error::Sealing)?
        .len();
    body.truncate(plain_len);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::sqlite;

    fn package(byte: u8) -> Package {
        Package {
            file_name: format!("{byte}.zip"),
            zip: vec![byte; 100],
        }
    }

    #[tokio::test]
    async fn hands_out_once_and_forgets_old_entries() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(dir.path()).await;
        let token = put(&db, package(1), 0).await.unwrap();
        assert!(take(&db, "unknown", 1).await.unwrap().is_none());
        let got = take(&db, &token, 1).await.unwrap().unwrap();
        assert_eq!((got.file_name.as_str(), got.zip), ("1.zip", vec![1; 100]));
        assert!(take(&db, &token, 1).await.unwrap().is_none());
        let late = put(&db, package(2), 0).await.unwrap();
        assert!(take(&db, &late, TTL_SECS + 1).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn what_is_stored_does_not_open_without_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(dir.path()).await;
        let token = put(&db, package(7), 0).await.unwrap();
        let (sealed,): (Vec<u8>,) = sqlx::query_as("SELECT sealed FROM sealed_packages")
            .fetch_one(&db)
            .await
            .unwrap();
        assert!(!sealed.windows(16).any(|w| w == [7u8; 16]));
        assert!(open(&random_token(), sealed.clone()).is_err());
        assert_eq!(open(&token, sealed).unwrap(), vec![7; 100]);
    }
}
