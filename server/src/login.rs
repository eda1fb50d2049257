//! The login flow, independent of HTTP: password → challenge → second
//! factor → tokens; refresh with rotation and reuse detection; logout.
//! Handlers (native API, later the admin pages) call these.

use crate::auth::jwt::{Claims, Confirmation, AUDIENCE};
use crate::auth::{constant_time_eq, random_token, token_hash, totp};
use crate::certificates;
use crate::db::{audit, Actor, AuditEvent};
use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::tls::PeerCertificate;
use axum::http::StatusCode;
use sightline_proto::{
    ErrorCode, LoginRequest, LoginResponse, Secret, TokenResponse, TotpEnrollment, VerifyTwoFactorRequest,
};
use std::net::IpAddr;

/// Codes tried against one challenge before it is spent (a typo or two is
/// fine; guessing needs the password again).
pub const MAX_CODES_PER_CHALLENGE: i64 = 3;
/// Failed codes before the second factor locks.
pub const MAX_CODE_FAILURES: i64 = 5;
const FIRST_CODE_LOCK_SECS: i64 = 30;
const MAX_CODE_LOCK_SECS: i64 = 3600;
pub const RECOVERY_CODE_COUNT: usize = 10;

/// Where a login attempt comes from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The verified client certificate; the admin pages may run without one
    /// (`admin.require_client_certificate = false`).
    pub peer: Option<&'a PeerCertificate>,
    pub client: IpAddr,
}

impl Origin<'_> {
    /// The certificate's thumbprint, or empty without one.
    fn thumbprint(&self) -> &[u8] {
        self.peer.map_or(&[], |peer| peer.thumbprint.as_slice())
    }
}

/// What a login is for: tokens for the desktop app, or an admin session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Native,
    Admin,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Admin => "admin",
        }
    }
}

#[derive(sqlx::FromRow)]
struct PasswordRow {
    id: i64,
    username: String,
    email: String,
    password_hash: Option<String>,
    disabled: bool,
    is_admin: bool,
    totp_secret: Option<String>,
}

pub async fn login(
    state: &AppState,
    origin: Origin<'_>,
    request: LoginRequest,
    purpose: Purpose,
) -> Result<LoginResponse, ApiError> {
    if request.username.len() > 256
        || request.password.expose().len() > crate::auth::password::MAX_PASSWORD_LEN
    {
        return Err(ApiError::invalid_request("username or password is too long"));
    }
    let now = state.clock.now();
    let account_key = request.username.to_lowercase();
    let client_key = origin.client.to_string();
    if let Some(wait) = state
        .account_throttle
        .locked_for(&account_key, now)
        .or_else(|| state.client_throttle.locked_for(&client_key, now))
    {
        return Err(ApiError::too_many_attempts(wait));
    }

    let row: Option<PasswordRow> = sqlx::query_as(
        "SELECT id, username, email, password_hash, disabled, is_admin, totp_secret FROM users WHERE username = ?",
    )
    .bind(&request.username)
    .fetch_optional(&state.db)
    .await?;
    // Unknown users and users without a password are checked against a dummy
    // hash, so every attempt costs one argon2 verification.
    let stored = row
        .as_ref()
        .and_then(|row| row.password_hash.clone())
        .unwrap_or_else(|| state.dummy_hash.clone());
    let matches = state.verify_password(request.password, stored).await?;
    let row = match row {
        Some(row) if matches && row.password_hash.is_some() => row,
        _ => {
            state.account_throttle.failure(&account_key, now);
            state.client_throttle.failure(&client_key, now);
            let attempted: String = request.username.chars().take(64).collect();
            audit(
                &state.db,
                now,
                AuditEvent {
                    actor: Actor::Anonymous,
                    action: "login.failure",
                    subject: Some(&attempted),
                    client_addr: Some(client_key),
                    detail: Some("password"),
                },
            )
            .await?;
            return Err(ApiError::invalid_credentials());
        }
    };
    state.account_throttle.success(&account_key);

    if row.disabled {
        return Err(account_disabled());
    }
    if purpose == Purpose::Admin && !row.is_admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::NotAnAdmin,
            "This account is not an administrator.",
        ));
    }
    let owner = match origin.peer {
        Some(peer) => Some(certificates::owner_by_thumbprint(&state.db, &peer.thumbprint).await?),
        None if purpose == Purpose::Admin => None,
        None => return Err(ApiError::client_certificate_required()),
    };
    match owner.flatten() {
        None if origin.peer.is_none() => {}
        None => return Err(ApiError::client_certificate_required()),
        Some(owner) if owner.revoked => return Err(certificate_revoked()),
        Some(owner) if owner.user_id != row.id => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::CertificateUserMismatch,
                "This certificate was issued to another user; log in with your own certificate.",
            ))
        }
        Some(_) => {}
    }

    let challenge = random_token();
    let ttl = state.config.auth.challenge_ttl_secs;
    let mut tx = state.db.begin().await?;
    sqlx::query("DELETE FROM login_challenges WHERE expires_at < ?")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO login_challenges (challenge_hash, user_id, cert_thumbprint, expires_at, purpose) VALUES (?, ?, ?, ?, ?)",
    )
        .bind(token_hash(&challenge))
        .bind(row.id)
        .bind(origin.thumbprint())
        .bind(now + i64::try_from(ttl).unwrap_or(300))
        .bind(purpose.as_str())
        .execute(&mut *tx)
        .await?;
    let enrollment = if row.totp_secret.is_none() {
        let secret = totp::generate_secret();
        sqlx::query("UPDATE users SET totp_pending_secret = ? WHERE id = ?")
            .bind(totp::encode_secret(&secret))
            .bind(row.id)
            .execute(&mut *tx)
            .await?;
        let uri = totp::otpauth_uri(&secret, &row.email);
        let qr_svg = totp::qr_svg(&uri)?;
        Some(TotpEnrollment {
            otpauth_uri: uri,
            qr_svg,
        })
    } else {
        None
    };
    tx.commit().await?;
    tracing::info!(user = %row.username, "password accepted; waiting for second factor");
    Ok(LoginResponse {
        challenge: Secret::new(challenge),
        expires_in: ttl,
        enrollment,
    })
}

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
    pub tx: sqlx::Transaction<'c, sqlx::Sqlite>,
    pub user_id: i64,
    pub username: String,
    /// Present once, when this code confirmed a new enrolment.
    pub recovery_codes: Option<Vec<Secret>>,
    pub now: i64,
}

pub async fn verify_two_factor(
    state: &AppState,
    origin: Origin<'_>,
    request: VerifyTwoFactorRequest,
) -> Result<TokenResponse, ApiError> {
    let peer = origin.peer.ok_or_else(ApiError::client_certificate_required)?;
    let Verified {
        mut tx,
        user_id,
        username,
        recovery_codes,
        now,
    } = verify_second_factor(state, origin, &request.challenge, &request.code, Purpose::Native).await?;
    let family_id = random_token();
    let family_ttl = i64::from(state.config.auth.refresh_token_ttl_days) * 86_400;
    sqlx::query("INSERT INTO token_families (id, user_id, cert_thumbprint, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
        .bind(&family_id)
        .bind(user_id)
        .bind(peer.thumbprint.as_slice())
        .bind(now)
        .bind(now + family_ttl)
        .execute(&mut *tx)
        .await?;
    let mut tokens = issue_tokens(state, &mut tx, user_id, &family_id, &peer.thumbprint, now).await?;
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
    state: &'c AppState,
    origin: Origin<'_>,
    challenge: &Secret,
    code: &Secret,
    purpose: Purpose,
) -> Result<Verified<'c>, ApiError> {
    let now = state.clock.now();
    let client_key = origin.client.to_string();
    if let Some(wait) = state.client_throttle.locked_for(&client_key, now) {
        return Err(ApiError::too_many_attempts(wait));
    }
    let challenge_hash = token_hash(challenge.expose());
    let challenge: Option<ChallengeRow> = sqlx::query_as(
        "SELECT user_id, cert_thumbprint, expires_at, used_at, purpose FROM login_challenges WHERE challenge_hash = ?",
    )
    .bind(&challenge_hash)
    .fetch_optional(&state.db)
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
        _ => return Err(invalid_challenge()),
    };
    // Count this attempt before looking at the code, atomically, so that a
    // burst of parallel guesses cannot all be judged against a stale count.
    let attempts: Option<i64> = sqlx::query_scalar(
        "UPDATE login_challenges SET attempts = attempts + 1 WHERE challenge_hash = ? AND used_at IS NULL RETURNING attempts",
    )
    .bind(&challenge_hash)
    .fetch_optional(&state.db)
    .await?;
    if attempts.is_none_or(|n| n > MAX_CODES_PER_CHALLENGE) {
        return Err(invalid_challenge());
    }
    let user: SecondFactorRow = sqlx::query_as(
        "SELECT username, disabled, totp_secret, totp_pending_secret, totp_last_step
         FROM users WHERE id = ?",
    )
    .bind(challenge.user_id)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(invalid_challenge)?;
    if user.disabled {
        return Err(account_disabled());
    }
    // Reserve this attempt as a failure before judging the code, in one
    // statement: however many guesses arrive at once, at most
    // MAX_CODE_FAILURES are judged before the lock. A success gives it back.
    let reserved: Option<i64> = sqlx::query_scalar(
        "UPDATE users SET totp_failures = totp_failures + 1
         WHERE id = ? AND totp_locked_until <= ? AND totp_failures < ? RETURNING totp_failures",
    )
    .bind(challenge.user_id)
    .bind(now)
    .bind(MAX_CODE_FAILURES)
    .fetch_optional(&state.db)
    .await?;
    let Some(reserved) = reserved else {
        return Err(lock_second_factor(state, challenge.user_id, now).await?);
    };
    let enrolling = user.totp_secret.is_none();
    let secret_text = user
        .totp_secret
        .as_deref()
        .or(user.totp_pending_secret.as_deref())
        .ok_or_else(invalid_challenge)?;
    let secret = totp::decode_secret(secret_text)?;

    let code: String = code.expose().chars().filter(|c| !c.is_whitespace()).collect();
    let accepted = if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        match totp::matching_step(&secret, &code, now) {
            Some(step) if user.totp_last_step.is_some_and(|last| step <= last) => {
                // A replayed code is refused without counting against the user.
                release_attempt(state, challenge.user_id).await?;
                return Err(totp_reused());
            }
            Some(step) => Some(Accepted::Totp { step }),
            None => None,
        }
    } else if !enrolling {
        find_recovery_code(state, challenge.user_id, &code)
            .await?
            .map(|id| Accepted::RecoveryCode { id })
    } else {
        None
    };

    let Some(accepted) = accepted else {
        return Err(record_code_failure(state, origin, challenge.user_id, &user, reserved, now).await?);
    };

    let mut tx = state.db.begin().await?;
    let spent =
        sqlx::query("UPDATE login_challenges SET used_at = ? WHERE challenge_hash = ? AND used_at IS NULL")
            .bind(now)
            .bind(&challenge_hash)
            .execute(&mut *tx)
            .await?;
    if spent.rows_affected() != 1 {
        return Err(invalid_challenge());
    }
    match accepted {
        Accepted::Totp { step } => {
            let recorded = sqlx::query(
                "UPDATE users SET totp_last_step = ? WHERE id = ? AND (totp_last_step IS NULL OR totp_last_step < ?)",
            )
            .bind(step)
            .bind(challenge.user_id)
            .bind(step)
            .execute(&mut *tx)
            .await?;
            if recorded.rows_affected() != 1 {
                return Err(totp_reused());
            }
        }
        Accepted::RecoveryCode { id } => {
            let used = sqlx::query("UPDATE recovery_codes SET used_at = ? WHERE id = ? AND used_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if used.rows_affected() != 1 {
                return Err(invalid_code());
            }
        }
    }
    sqlx::query("UPDATE users SET totp_failures = 0, totp_lockouts = 0, totp_locked_until = 0 WHERE id = ?")
        .bind(challenge.user_id)
        .execute(&mut *tx)
        .await?;

    let recovery_codes = if enrolling {
        sqlx::query(
            "UPDATE users SET totp_secret = totp_pending_secret, totp_pending_secret = NULL WHERE id = ?",
        )
        .bind(challenge.user_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = ?")
            .bind(challenge.user_id)
            .execute(&mut *tx)
            .await?;
        let mut codes = Vec::with_capacity(RECOVERY_CODE_COUNT);
        for _ in 0..RECOVERY_CODE_COUNT {
            let code = generate_recovery_code();
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, ?)")
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
pub async fn pending_enrollment(state: &AppState, challenge: &Secret) -> Result<Option<TotpEnrollment>> {
    let row: Option<(Option<String>, String)> = sqlx::query_as(
        "SELECT u.totp_pending_secret, u.email FROM login_challenges c JOIN users u ON u.id = c.user_id
         WHERE c.challenge_hash = ? AND u.totp_secret IS NULL",
    )
    .bind(token_hash(challenge.expose()))
    .fetch_optional(&state.db)
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

async fn find_recovery_code(state: &AppState, user_id: i64, code: &str) -> Result<Option<i64>> {
    let wanted = token_hash(&normalise_recovery_code(code));
    let rows: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT id, code_hash FROM recovery_codes WHERE user_id = ? AND used_at IS NULL")
            .bind(user_id)
            .fetch_all(&state.db)
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
async fn lock_second_factor(state: &AppState, user_id: i64, now: i64) -> Result<ApiError> {
    let (lockouts, locked_until): (i64, i64) =
        sqlx::query_as("SELECT totp_lockouts, totp_locked_until FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_one(&state.db)
            .await?;
    if locked_until > now {
        return Ok(ApiError::too_many_attempts(
            u64::try_from(locked_until - now).unwrap_or(1),
        ));
    }
    let lock = (FIRST_CODE_LOCK_SECS << lockouts.clamp(0, 16)).min(MAX_CODE_LOCK_SECS);
    sqlx::query(
        "UPDATE users SET totp_failures = 0, totp_lockouts = totp_lockouts + 1, totp_locked_until = ?
         WHERE id = ? AND totp_locked_until <= ?",
    )
    .bind(now + lock)
    .bind(user_id)
    .bind(now)
    .execute(&state.db)
    .await?;
    Ok(ApiError::too_many_attempts(u64::try_from(lock).unwrap_or(1)))
}

async fn release_attempt(state: &AppState, user_id: i64) -> Result<()> {
    sqlx::query("UPDATE users SET totp_failures = MAX(totp_failures - 1, 0) WHERE id = ?")
        .bind(user_id)
        .execute(&state.db)
        .await?;
    Ok(())
}

async fn record_code_failure(
    state: &AppState,
    origin: Origin<'_>,
    user_id: i64,
    user: &SecondFactorRow,
    failures: i64,
    now: i64,
) -> Result<ApiError> {
    state.client_throttle.failure(&origin.client.to_string(), now);
    let locked = if failures >= MAX_CODE_FAILURES {
        Some(lock_second_factor(state, user_id, now).await?)
    } else {
        None
    };
    audit(
        &state.db,
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
    Ok(locked.unwrap_or_else(invalid_code))
}

/// Signs an access token and stores a new refresh token in `family_id`.
async fn issue_tokens(
    state: &AppState,
    tx: &mut sqlx::SqliteConnection,
    user_id: i64,
    family_id: &str,
    thumbprint: &[u8; 32],
    now: i64,
) -> Result<TokenResponse> {
    let refresh = random_token();
    sqlx::query("INSERT INTO refresh_tokens (token_hash, family_id, issued_at) VALUES (?, ?, ?)")
        .bind(token_hash(&refresh))
        .bind(family_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let ttl = state.config.auth.access_token_ttl_secs;
    let claims = Claims {
        iss: state.jwt.issuer().to_owned(),
        aud: AUDIENCE.to_owned(),
        sub: user_id.to_string(),
        iat: now,
        exp: now + i64::try_from(ttl).unwrap_or(900),
        jti: random_token(),
        sid: family_id.to_owned(),
        cnf: Confirmation::for_thumbprint(thumbprint),
    };
    Ok(TokenResponse {
        access_token: Secret::new(state.jwt.sign(&claims)?),
        token_type: "Bearer".into(),
        expires_in: ttl,
        refresh_token: Secret::new(refresh),
        recovery_codes: None,
    })
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    family_id: String,
    used_at: Option<i64>,
    user_id: i64,
    username: String,
    cert_thumbprint: Vec<u8>,
    expires_at: i64,
    revoked: bool,
    disabled: bool,
}

/// Rotates a refresh token. Presenting one that was already rotated means it
/// leaked: the whole family is revoked, the newest token included.
pub async fn refresh(
    state: &AppState,
    origin: Origin<'_>,
    token: &Secret,
) -> Result<TokenResponse, ApiError> {
    let peer = origin.peer.ok_or_else(ApiError::client_certificate_required)?;
    let now = state.clock.now();
    let hash = token_hash(token.expose());
    let row: Option<RefreshRow> = sqlx::query_as(
        "SELECT r.family_id, r.used_at, f.user_id, u.username, f.cert_thumbprint, f.expires_at,
                f.revoked_at IS NOT NULL AS revoked, u.disabled
         FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id JOIN users u ON u.id = f.user_id
         WHERE r.token_hash = ?",
    )
    .bind(&hash)
    .fetch_optional(&state.db)
    .await?;
    let Some(row) = row else {
        return Err(invalid_refresh_token());
    };
    if row.used_at.is_some() {
        revoke_family(state, &row.family_id, now, "refresh token reused").await?;
        audit(
            &state.db,
            now,
            AuditEvent {
                actor: Actor::User(&row.username),
                action: "session.revoke",
                subject: Some(&row.username),
                client_addr: Some(origin.client.to_string()),
                detail: Some("refresh token reused"),
            },
        )
        .await?;
        return Err(refresh_token_reused());
    }
    if row.revoked || row.expires_at <= now {
        return Err(invalid_refresh_token());
    }
    if !constant_time_eq(&row.cert_thumbprint, &peer.thumbprint) {
        return Err(token_binding_mismatch());
    }
    if row.disabled {
        return Err(account_disabled());
    }
    if let Some(owner) = certificates::owner_by_thumbprint(&state.db, &peer.thumbprint).await? {
        if owner.revoked {
            return Err(certificate_revoked());
        }
    }
    let mut tx = state.db.begin().await?;
    let rotated =
        sqlx::query("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL")
            .bind(now)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
    if rotated.rows_affected() != 1 {
        drop(tx);
        revoke_family(state, &row.family_id, now, "refresh token reused").await?;
        return Err(refresh_token_reused());
    }
    let tokens = issue_tokens(state, &mut tx, row.user_id, &row.family_id, &peer.thumbprint, now).await?;
    tx.commit().await?;
    Ok(tokens)
}

/// Ends a login session: its refresh tokens and access tokens stop working.
pub async fn logout(state: &AppState, family_id: &str, username: &str) -> Result<()> {
    let now = state.clock.now();
    revoke_family(state, family_id, now, "logout").await?;
    audit(
        &state.db,
        now,
        AuditEvent::of(Actor::User(username), "logout", username),
    )
    .await
}

async fn revoke_family(state: &AppState, family_id: &str, now: i64, reason: &str) -> Result<()> {
    sqlx::query(
        "UPDATE token_families SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(family_id)
    .execute(&state.db)
    .await?;
    Ok(())
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

fn invalid_challenge() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidChallenge,
        "The login has expired or was already completed; start again with your password.",
    )
}

fn totp_reused() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::TotpReused,
        "This code has already been used; wait for the next one.",
    )
}

fn invalid_code() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidCode,
        "The code is not correct.",
    )
}

fn invalid_refresh_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidRefreshToken,
        "The session has ended; log in again.",
    )
}

fn refresh_token_reused() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::RefreshTokenReused,
        "This refresh token was already used; the session has been ended for safety. Log in again.",
    )
}

pub fn token_binding_mismatch() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::TokenBindingMismatch,
        "This token belongs to another certificate.",
    )
}

pub fn account_disabled() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::AccountDisabled,
        "This account is disabled.",
    )
}

pub fn certificate_revoked() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::CertificateRevoked,
        "This client certificate has been revoked.",
    )
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
