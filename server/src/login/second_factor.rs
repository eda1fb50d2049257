//! The second step of a login: a TOTP or recovery code against the
//! challenge the password step handed out. Attempts are reserved as
//! failures before a code is judged, so parallel guesses cannot outrun the
//! lockout; a first code confirms a new enrolment and yields the recovery
//! codes.

use super::attempt::{LoginGuard, Origin, Purpose};
use super::tokens::issue_tokens;
use crate::audit::{audit, Actor, AuditEvent};
use crate::auth::{constant_time_eq, random_token, token_hash, totp};
use crate::context::Context;
use crate::error::{Error, Result};
use sightline_proto::{Secret, TokenResponse, TotpEnrollment, VerifyTwoFactorRequest};

/// Codes tried against one challenge before it is spent (a typo or two is
/// fine; guessing needs the password again).
const MAX_CODES_PER_CHALLENGE: i64 = 3;
/// Failed codes before the second factor locks.
const MAX_CODE_FAILURES: i64 = 5;
const FIRST_CODE_LOCK_SECS: i64 = 30;
const MAX_CODE_LOCK_SECS: i64 = 3600;
const RECOVERY_CODE_COUNT: usize = 10;

#[derive(sqlx::FromRow)]
struct ChallengeRow {
    user_id: i64,
    cert_thumbprint: Vec<u8>,
    expires_at: i64,
    used_at: Option<i64>,
    purpose: String,
}

#[derive(sqlx::FromRow)]
struct SecondFactorRow {
    username: String,
    #[sqlx(try_from = "crate::db::Flag")]
    disabled: bool,
    totp_secret: Option<String>,
    totp_pending_secret: Option<String>,
    totp_last_step: Option<i64>,
}

enum Accepted {
    Totp { step: i64 },
    RecoveryCode { id: i64 },
}

/// A second factor that was accepted: the challenge is spent and the TOTP
/// state updated inside `tx`, which the caller completes and commits.
#[derive(Debug)]
pub struct Verified<'c> {
    pub tx: sqlx::Transaction<'c, sqlx::Any>,
    pub user_id: i64,
    pub username: String,
    /// Present once, when this code confirmed a new enrolment.
    pub recovery_codes: Option<Vec<Secret>>,
    pub now: i64,
}

pub async fn verify_two_factor(
    ctx: &Context,
    guard: &LoginGuard,
    origin: Origin<'_>,
    request: VerifyTwoFactorRequest,
) -> Result<TokenResponse> {
    let peer = origin.peer.ok_or(Error::ClientCertificateRequired)?;
    let Verified {
        mut tx,
        user_id,
        username,
        recovery_codes,
        now,
    } = verify_second_factor(
        ctx,
        guard,
        origin,
        &request.challenge,
        &request.code,
        Purpose::Native,
    )
    .await?;
    let family_id = random_token();
    let family_ttl = i64::from(ctx.config.auth.refresh_token_ttl_days) * 86_400;
    sqlx::query("INSERT INTO token_families (id, user_id, cert_thumbprint, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&family_id)
        .bind(user_id)
        .bind(peer.thumbprint.as_slice())
        .bind(now)
        .bind(now + family_ttl)
        .execute(&mut *tx)
        .await?;
    let mut tokens = issue_tokens(ctx, guard, &mut tx, user_id, &family_id, &peer.thumbprint, now).await?;
    let detail = if recovery_codes.is_some() {
        "second factor enrolled"
    } else {
        "second factor accepted"
    };
    audit(
        &mut *tx,
        now,
        AuditEvent {
            actor: Actor::User(&username),
            action: "login.success",
            subject: Some(&username),
            client_addr: Some(origin.client.to_string()),
            detail: Some(detail),
        },
    )
    .await?;
    tx.commit().await?;
    tokens.recovery_codes = recovery_codes;
    Ok(tokens)
}

/// Checks a TOTP or recovery code against a login challenge.
pub async fn verify_second_factor<'c>(
    ctx: &'c Context,
    guard: &LoginGuard,
    origin: Origin<'_>,
    challenge: &Secret,
    code: &Secret,
    purpose: Purpose,
) -> Result<Verified<'c>> {
    let result = check_second_factor(ctx, guard, origin, challenge, code, purpose).await;
    guard.count("second_factor", &result);
    result
}

async fn check_second_factor<'c>(
    ctx: &'c Context,
    guard: &LoginGuard,
    origin: Origin<'_>,
    challenge: &Secret,
    code: &Secret,
    purpose: Purpose,
) -> Result<Verified<'c>> {
    let now = ctx.clock.now();
    let client_key = origin.client.to_string();
    if let Some(wait) = guard
        .client_throttle
        .locked_for(&ctx.db, &client_key, now)
        .await?
    {
        return Err(Error::TooManyAttempts { retry_after: wait });
    }
    let challenge_hash = token_hash(challenge.expose());
    let challenge: Option<ChallengeRow> = sqlx::query_as(
        "SELECT user_id, cert_thumbprint, expires_at, used_at, purpose FROM login_challenges WHERE challenge_hash = $1",
    )
    .bind(&challenge_hash)
    .fetch_optional(&ctx.db)
    .await?;
    let challenge = match challenge {
        Some(c)
            if c.used_at.is_none()
                && c.expires_at > now
                && c.purpose == purpose.as_str()
                && constant_time_eq(&c.cert_thumbprint, origin.thumbprint()) =>
        {
            c
        }
        _ => return Err(Error::InvalidChallenge),
    };
    // Count this attempt before looking at the code, atomically, so that a
    // burst of parallel guesses cannot all be judged against a stale count.
    let attempts: Option<i64> = sqlx::query_scalar(
        "UPDATE login_challenges SET attempts = attempts + 1 WHERE challenge_hash = $1 AND used_at IS NULL RETURNING attempts",
    )
    .bind(&challenge_hash)
    .fetch_optional(&ctx.db)
    .await?;
    if attempts.is_none_or(|n| n > MAX_CODES_PER_CHALLENGE) {
        return Err(Error::InvalidChallenge);
    }
    let user: SecondFactorRow = sqlx::query_as(
        "SELECT username, disabled, totp_secret, totp_pending_secret, totp_last_step
         FROM users WHERE id = $1",
    )
    .bind(challenge.user_id)
    .fetch_optional(&ctx.db)
    .await?
    .ok_or(Error::InvalidChallenge)?;
    if user.disabled {
        return Err(Error::AccountDisabled);
    }
    // Reserve this attempt as a failure before judging the code, in one
    // statement: however many guesses arrive at once, at most
    // MAX_CODE_FAILURES are judged before the lock. A success gives it back.
    let reserved: Option<i64> = sqlx::query_scalar(
        "UPDATE users SET totp_failures = totp_failures + 1
         WHERE id = $1 AND totp_locked_until <= $2 AND totp_failures < $3 RETURNING totp_failures",
    )
    .bind(challenge.user_id)
    .bind(now)
    .bind(MAX_CODE_FAILURES)
    .fetch_optional(&ctx.db)
    .await?;
    let Some(reserved) = reserved else {
        return Err(lock_second_factor(ctx, challenge.user_id, now).await?);
    };
    let enrolling = user.totp_secret.is_none();
    let secret_text = user
        .totp_secret
        .as_deref()
        .or(user.totp_pending_secret.as_deref())
        .ok_or(Error::InvalidChallenge)?;
    let secret = totp::decode_secret(secret_text)?;

    let code: String = code.expose().chars().filter(|c| !c.is_whitespace()).collect();
    let accepted = if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        match totp::matching_step(&secret, &code, now) {
            Some(step) if user.totp_last_step.is_some_and(|last| step <= last) => {
                // A replayed code is refused without counting against the user.
                release_attempt(ctx, challenge.user_id).await?;
                return Err(Error::TotpReused);
            }
            Some(step) => Some(Accepted::Totp { step }),
            None => None,
        }
    } else if !enrolling {
        find_recovery_code(ctx, challenge.user_id, &code)
            .await?
            .map(|id| Accepted::RecoveryCode { id })
    } else {
        None
    };

    let Some(accepted) = accepted else {
        return Err(record_code_failure(ctx, guard, origin, challenge.user_id, &user, reserved, now).await?);
    };

    let mut tx = ctx.db.begin().await?;
    let spent =
        sqlx::query("UPDATE login_challenges SET used_at = $1 WHERE challenge_hash = $2 AND used_at IS NULL")
            .bind(now)
            .bind(&challenge_hash)
            .execute(&mut *tx)
            .await?;
    if spent.rows_affected() != 1 {
        return Err(Error::InvalidChallenge);
    }
    match accepted {
        Accepted::Totp { step } => {
            let recorded = sqlx::query(
                "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $3)",
            )
            .bind(step)
            .bind(challenge.user_id)
            .bind(step)
            .execute(&mut *tx)
            .await?;
            if recorded.rows_affected() != 1 {
                return Err(Error::TotpReused);
            }
        }
        Accepted::RecoveryCode { id } => {
            let used =
                sqlx::query("UPDATE recovery_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            if used.rows_affected() != 1 {
                return Err(Error::InvalidCode);
            }
        }
    }
    sqlx::query("UPDATE users SET totp_failures = 0, totp_lockouts = 0, totp_locked_until = 0 WHERE id = $1")
        .bind(challenge.user_id)
        .execute(&mut *tx)
        .await?;

    let recovery_codes = if enrolling {
        sqlx::query(
            "UPDATE users SET totp_secret = totp_pending_secret, totp_pending_secret = NULL WHERE id = $1",
        )
        .bind(challenge.user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(challenge.user_id)
            .execute(&mut *tx)
            .await?;
        let mut codes = Vec::with_capacity(RECOVERY_CODE_COUNT);
        for _ in 0..RECOVERY_CODE_COUNT {
            let code = generate_recovery_code();
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(challenge.user_id)
                .bind(token_hash(&normalise_recovery_code(&code)))
                .execute(&mut *tx)
                .await?;
            codes.push(Secret::new(code));
        }
        Some(codes)
    } else {
        None
    };

    Ok(Verified {
        tx,
        user_id: challenge.user_id,
        username: user.username,
        recovery_codes,
        now,
    })
}

/// The enrolment a pending challenge is confirming, to show its QR code
/// again after a wrong code.
pub async fn pending_enrollment(ctx: &Context, challenge: &Secret) -> Result<Option<TotpEnrollment>> {
    let row: Option<(Option<String>, String)> = sqlx::query_as(
        "SELECT u.totp_pending_secret, u.email FROM login_challenges c JOIN users u ON u.id = c.user_id
         WHERE c.challenge_hash = $1 AND u.totp_secret IS NULL",
    )
    .bind(token_hash(challenge.expose()))
    .fetch_optional(&ctx.db)
    .await?;
    let Some((Some(secret), email)) = row else {
        return Ok(None);
    };
    let uri = totp::otpauth_uri(&totp::decode_secret(&secret)?, &email);
    let qr_svg = totp::qr_svg(&uri)?;
    Ok(Some(TotpEnrollment {
        otpauth_uri: uri,
        qr_svg,
    }))
}

async fn find_recovery_code(ctx: &Context, user_id: i64, code: &str) -> Result<Option<i64>> {
    let wanted = token_hash(&normalise_recovery_code(code));
    let rows: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT id, code_hash FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(user_id)
            .fetch_all(&ctx.db)
            .await?;
    Ok(rows.into_iter().fold(None, |found, (id, hash)| {
        if constant_time_eq(&hash, &wanted) {
            Some(id)
        } else {
            found
        }
    }))
}

/// Locks the second factor once the failures are used up (if another
/// request has not already) and answers 429 with the remaining wait.
async fn lock_second_factor(ctx: &Context, user_id: i64, now: i64) -> Result<Error> {
    let (lockouts, locked_until): (i64, i64) =
        sqlx::query_as("SELECT totp_lockouts, totp_locked_until FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&ctx.db)
            .await?;
    if locked_until > now {
        return Ok(Error::TooManyAttempts {
            retry_after: u64::try_from(locked_until - now).unwrap_or(1),
        });
    }
    let lock = (FIRST_CODE_LOCK_SECS << lockouts.clamp(0, 16)).min(MAX_CODE_LOCK_SECS);
    sqlx::query(
        "UPDATE users SET totp_failures = 0, totp_lockouts = totp_lockouts + 1, totp_locked_until = $1
         WHERE id = $2 AND totp_locked_until <= $3",
    )
    .bind(now + lock)
    .bind(user_id)
    .bind(now)
    .execute(&ctx.db)
    .await?;
    Ok(Error::TooManyAttempts {
        retry_after: u64::try_from(lock).unwrap_or(1),
    })
}

async fn release_attempt(ctx: &Context, user_id: i64) -> Result<()> {
    sqlx::query("UPDATE users SET totp_failures = CASE WHEN totp_failures > 0 THEN totp_failures - 1 ELSE 0 END WHERE id = $1")
        .bind(user_id)
        .execute(&ctx.db)
        .await?;
    Ok(())
}

async fn record_code_failure(
    ctx: &Context,
    guard: &LoginGuard,
    origin: Origin<'_>,
    user_id: i64,
    user: &SecondFactorRow,
    failures: i64,
    now: i64,
) -> Result<Error> {
    guard
        .client_throttle
        .failure(&ctx.db, &origin.client.to_string(), now)
        .await?;
    let locked = if failures >= MAX_CODE_FAILURES {
        Some(lock_second_factor(ctx, user_id, now).await?)
    } else {
        None
    };
    audit(
        &ctx.db,
        now,
        AuditEvent {
            actor: Actor::User(&user.username),
            action: "login.failure",
            subject: Some(&user.username),
            client_addr: Some(origin.client.to_string()),
            detail: Some(if locked.is_some() {
                "second factor; locked"
            } else {
                "second factor"
            }),
        },
    )
    .await?;
    Ok(locked.unwrap_or(Error::InvalidCode))
}

/// `XXXX-XXXX-XXXX-XXXX` from an unambiguous base32 alphabet: 80 bits.
fn generate_recovery_code() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    let chars: Vec<u8> = (0..16)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())])
        .collect();
    chars
        .chunks(4)
        .map(|group| String::from_utf8_lossy(group).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

fn normalise_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_long_and_normalise() {
        let code = generate_recovery_code();
        assert_eq!(code.len(), 19);
        assert_eq!(
            normalise_recovery_code(&code.to_lowercase()),
            code.replace('-', "")
        );
    }
}
