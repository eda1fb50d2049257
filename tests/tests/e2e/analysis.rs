//! Modes and the analysis API against a stub OpenAI-compatible server and
//! the real Tesseract: streaming, JSON, every failure kind, cancellation,
//! OCR, bad input and limits.
//!
//! Why this file is long: every path of one capability (analysis through
//! the stub provider) is a test here, each a whole story from upload to
//! streamed answer, sharing the fixture and image makers at the top.

use anyhow::{Context, Result};
use http::{Method, StatusCode};
use sightline_proto::StreamEvent;
use sightline_tests::stub::{Behaviour, StubProvider};
use sightline_tests::{
    first_login, free_port, multipart, read_events, Connection, Identity, LoggedIn, TestServer,
};
use std::io::Cursor;
use std::time::{Duration, Instant};

const PASSWORD: &str = "harbour-lantern-violet";

struct Fixture {
    server: TestServer,
    stub: StubProvider,
    identity: Identity,
    conn: Connection,
    session: LoggedIn,
}

fn providers_config(stub: &StubProvider, extra: &str) -> String {
    format!(
        "[[providers]]\nid = \"stub\"\nkind = \"openai\"\nbase_url = \"{}\"\nfirst_token_timeout_secs = 2\ntotal_timeout_secs = 6\n\n\
         [[providers]]\nid = \"ocr\"\nkind = \"tesseract\"\n\n\
         [[providers]]\nid = \"down\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{}/v1\"\nconnect_timeout_secs = 2\n{extra}",
        stub.base_url(),
        free_port().unwrap_or(9)
    )
}

async fn fixture(extra_config: &str) -> Result<Fixture> {
    let stub = StubProvider::start().await?;
    let server = TestServer::start_configured(&providers_config(&stub, extra_config), &[]).await?;
    server
        .add_mode(
            "Stub chat",
            "chat",
            "stub",
            &[
                "--model",
                "stub-vision",
                "--prompt",
                "You are the stub's test persona.",
            ],
        )
        .await?;
    server
        .add_mode(
            "Stub rewrite",
            "rewrite",
            "stub",
            &["--model", "stub-writer", "--prompt", "Make it shine."],
        )
        .await?;
    server
        .add_mode("Broken", "chat", "down", &["--model", "m"])
        .await?;
    let identity = server.add_user("ada", PASSWORD).await?;
    let mut conn = server.connect(Some(&identity)).await?;
    let session = first_login(&mut conn, "ada", PASSWORD).await?;
    Ok(Fixture {
        server,
        stub,
        identity,
        conn,
        session,
    })
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    })
    .write_to(&mut out, image::ImageFormat::Png)
    .unwrap();
    out.into_inner()
}

impl Fixture {
    async fn analyze(
        &mut self,
        parts: &[(&str, Option<&str>, &[u8])],
        stream: bool,
    ) -> Result<http::Response<hyper::body::Incoming>> {
        let (content_type, body) = multipart(parts);
        let bearer = format!("Bearer {}", self.session.access_token);
        let accept = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        self.conn
            .send_streaming(
                Method::POST,
                "/native/analyze",
                &[
                    ("content-type", &content_type),
                    ("authorization", &bearer),
                    ("accept", accept),
                ],
                body,
            )
            .await
    }

    async fn analyze_json(
        &mut self,
        parts: &[(&str, Option<&str>, &[u8])],
    ) -> Result<(StatusCode, serde_json::Value)> {
        let response = self.analyze(parts, false).await?;
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await?
            .to_bytes();
        Ok((
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        ))
    }
}

/// A multipart part: name, file name, contents.
type Part<'a> = (&'a str, Option<&'a str>, &'a [u8]);

fn code(json: &serde_json::Value) -> &str {
    json["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn modes_are_listed_without_prompts() -> Result<()> {
    let mut f = fixture("").await?;
    let modes = f.conn.get("/native/modes", Some(&f.session.access_token)).await?;
    assert_eq!(modes.status, StatusCode::OK);
    let list = modes.json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    for id in [
        "explain-screen",
        "coding-assistant",
        "extract-text",
        "rewrite-clearer",
        "rewrite-grammar",
        "stub-chat",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let extract = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "extract-text")
        .unwrap();
    assert_eq!(extract["kind"], "ocr");
    let text = modes.text();
    assert!(
        !text.contains("stub's test persona") && !text.contains("provider") && !text.contains("127.0.0.1")
    );
    // Only for a logged-in client.
    assert_eq!(
        f.conn.get("/native/modes", None).await?.status,
        StatusCode::UNAUTHORIZED
    );
    Ok(())
}

#[tokio::test]
async fn answers_stream_in_order_and_the_mode_reaches_the_provider() -> Result<()> {
    let mut f = fixture("").await?;
    f.stub.set(Behaviour {
        delay: Duration::from_millis(150),
        ..Behaviour::default()
    });
    let image = png(64, 48);
    let started = Instant::now();
    let response = f
        .analyze(
            &[
                ("mode", None, b"stub-chat"),
                ("context", None, b"What is this?"),
                ("image", Some("shot.png"), &image),
            ],
            true,
        )
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = read_events(response, Duration::from_secs(10)).await?;
    let texts: Vec<&str> = events
        .iter()
        .filter_map(|(e, _)| match e {
            StreamEvent::Delta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["Hello", ", ", "world", "!"]);
    // Promptly: the first delta arrived long before the last was sent.
    let first_arrival = events[0].1.duration_since(started);
    let last_arrival = events[events.len() - 2].1.duration_since(started);
    assert!(
        last_arrival - first_arrival >= Duration::from_millis(300),
        "deltas were buffered: {first_arrival:?} vs {last_arrival:?}"
    );
    match &events.last().unwrap().0 {
        StreamEvent::Done { usage } => assert_eq!((usage.prompt_tokens, usage.total_tokens), (11, 15)),
        other => panic!("expected done, got {other:?}"),
    }

    let upstream = f.stub.requests().pop().context("nothing reached the stub")?;
    assert_eq!(upstream["model"], "stub-vision");
    assert_eq!(upstream["stream"], true);
    assert_eq!(upstream["messages"][0]["role"], "system");
    assert_eq!(
        upstream["messages"][0]["content"],
        "You are the stub's test persona."
    );
    let content = &upstream["messages"][1]["content"];
    assert_eq!(content[0]["text"], "What is this?");
    let expected = format!("data:image/png;base64,{}", data_encoding::BASE64.encode(&image));
    assert_eq!(content[1]["image_url"]["url"].as_str(), Some(expected.as_str()));
    Ok(())
}

#[tokio::test]
async fn json_answers_join_the_text() -> Result<()> {
    let mut f = fixture("").await?;
    let image = png(32, 32);
    let (status, json) = f
        .analyze_json(&[("mode", None, b"stub-chat"), ("image", Some("a.png"), &image)])
        .await?;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["text"], "Hello, world!");
    assert_eq!(json["usage"]["completion_tokens"], 4);

    // Rewrite: the replacement only, and the prompt asks for exactly that.
    f.stub.set(Behaviour {
        deltas: vec!["Their ".into(), "report is ready.".into()],
        ..Behaviour::default()
    });
    let rewrite = f
        .conn
        .post_json("/native/rewrite", &serde_json::json!({"text": "there report are ready", "mode": "stub-rewrite", "instruction": "formal"}), Some(&f.session.access_token))
        .await?;
    assert_eq!(rewrite.status, StatusCode::OK, "{}", rewrite.text());
    assert_eq!(rewrite.json()["text"], "Their report is ready.");
    let upstream = f.stub.requests().pop().unwrap();
    assert_eq!(upstream["model"], "stub-writer");
    let system = upstream["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.starts_with("Make it shine.") && system.contains("rewritten text only"),
        "{system}"
    );
    let user = upstream["messages"][1]["content"][0]["text"].as_str().unwrap();
    assert!(user.contains("formal") && user.contains("there report are ready"));

    let wrong = f
        .conn
        .post_json(
            "/native/rewrite",
            &serde_json::json!({"text": "x", "mode": "stub-chat"}),
            Some(&f.session.access_token),
        )
        .await?;
    assert_eq!(
        (wrong.status, wrong.error_code().as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "wrong_mode_kind")
    );
    let huge = f
        .conn
        .post_json(
            "/native/rewrite",
            &serde_json::json!({"text": "x".repeat(70 * 1024), "mode": "stub-rewrite"}),
            Some(&f.session.access_token),
        )
        .await?;
    assert_eq!(
        (huge.status, huge.error_code().as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "text_too_large")
    );
    Ok(())
}

#[tokio::test]
async fn each_provider_failure_is_a_clear_error_event() -> Result<()> {
    let mut f = fixture("").await?;
    let image = png(16, 16);
    let last_event = |events: Vec<(StreamEvent, Instant)>| events.into_iter().last().map(|(e, _)| e);
    let error_code = |event: Option<StreamEvent>| match event {
        Some(StreamEvent::Error { code, message }) => {
            assert!(!message.is_empty());
            code.as_str().to_owned()
        }
        other => format!("{other:?}"),
    };

    let unreachable = f
        .analyze(
            &[("mode", None, b"broken"), ("image", Some("a.png"), &image)],
            true,
        )
        .await?;
    assert_eq!(
        error_code(last_event(
            read_events(unreachable, Duration::from_secs(10)).await?
        )),
        "provider_unavailable"
    );

    f.stub.set(Behaviour {
        first_delay: Duration::from_secs(4),
        ..Behaviour::default()
    });
    let started = Instant::now();
    let slow = f
        .analyze(
            &[("mode", None, b"stub-chat"), ("image", Some("a.png"), &image)],
            true,
        )
        .await?;
    assert_eq!(
        error_code(last_event(read_events(slow, Duration::from_secs(10)).await?)),
        "provider_timeout"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the first-token timeout (2 s) did not apply"
    );

    f.stub.set(Behaviour {
        status: Some(500),
        ..Behaviour::default()
    });
    let failing = f
        .analyze(
            &[("mode", None, b"stub-chat"), ("image", Some("a.png"), &image)],
            true,
        )
        .await?;
    assert_eq!(
        error_code(last_event(read_events(failing, Duration::from_secs(10)).await?)),
        "provider_error"
    );

    f.stub.set(Behaviour {
        malformed: true,
        ..Behaviour::default()
    });
    let garbled = f
        .analyze(
            &[("mode", None, b"stub-chat"), ("image", Some("a.png"), &image)],
            true,
        )
        .await?;
    assert_eq!(
        error_code(last_event(read_events(garbled, Duration::from_secs(10)).await?)),
        "provider_error"
    );

    // In JSON mode the same failures are error answers with a gateway status.
    f.stub.set(Behaviour {
        status: Some(503),
        ..Behaviour::default()
    });
    let (status, json) = f
        .analyze_json(&[("mode", None, b"stub-chat"), ("image", Some("a.png"), &image)])
        .await?;
    assert_eq!((status, code(&json)), (StatusCode::BAD_GATEWAY, "provider_error"));
    // The server is fine afterwards.
    assert_eq!(f.conn.get("/healthz", None).await?.status, StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn a_client_that_hangs_up_cancels_the_upstream_request() -> Result<()> {
    let mut f = fixture("").await?;
    f.stub.set(Behaviour {
        deltas: (0..50).map(|i| format!("piece {i} ")).collect(),
        delay: Duration::from_millis(100),
        ..Behaviour::default()
    });
    let image = png(16, 16);
    let response = f
        .analyze(
            &[("mode", None, b"stub-chat"), ("image", Some("a.png"), &image)],
            true,
        )
        .await?;
    let mut body = response.into_body();
    let first = http_body_util::BodyExt::frame(&mut body)
        .await
        .context("no frame")??;
    assert!(first
        .data_ref()
        .is_some_and(|d| String::from_utf8_lossy(d).contains("delta")));
    drop(body);
    drop(f.conn); // the desktop app quits mid-answer
    let deadline = Instant::now() + Duration::from_secs(5);
    while f.stub.cancelled() == 0 {
        assert!(
            Instant::now() < deadline,
            "the upstream request was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(f.stub.completed(), 0);
    Ok(())
}

/// Black text on white in DejaVu Sans, as on a screen.
fn rendered_text(lines: &[&str]) -> Vec<u8> {
    use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
    let font_bytes = std::fs::read("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
        .expect("fonts-dejavu-core is installed by scripts/setup");
    let font = FontRef::try_from_slice(&font_bytes).unwrap();
    let scale = PxScale::from(40.0);
    let scaled = font.as_scaled(scale);
    let mut canvas = image::GrayImage::from_pixel(1100, 80 + 60 * lines.len() as u32, image::Luma([255]));
    for (row, line) in lines.iter().enumerate() {
        let mut x = 30.0;
        let baseline = 70.0 + 60.0 * row as f32;
        for c in line.chars() {
            let glyph = scaled.scaled_glyph(c);
            let advance = scaled.h_advance(glyph.id);
            let positioned = ab_glyph::Glyph {
                position: ab_glyph::point(x, baseline),
                ..glyph
            };
            if let Some(outline) = font.outline_glyph(positioned) {
                let bounds = outline.px_bounds();
                outline.draw(|gx, gy, coverage| {
                    let (px, py) = (bounds.min.x as i32 + gx as i32, bounds.min.y as i32 + gy as i32);
                    if px >= 0 && py >= 0 && (px as u32) < canvas.width() && (py as u32) < canvas.height() {
                        let value = (255.0 * (1.0 - coverage.min(1.0))) as u8;
                        let pixel = canvas.get_pixel_mut(px as u32, py as u32);
                        pixel.0[0] = pixel.0[0].min(value);
                    }
                });
            }
            x += advance;
        }
    }
    let mut out = Cursor::new(Vec::new());
    canvas.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn extract_text_reads_the_image_locally() -> Result<()> {
    let mut f = fixture("").await?;
    let image = rendered_text(&["Quarterly report is ready", "Deploy at 17:30 on Friday"]);
    let (status, json) = f
        .analyze_json(&[
            ("mode", None, b"extract-text"),
            ("image", Some("text.png"), &image),
        ])
        .await?;
    assert_eq!(status, StatusCode::OK, "{json}");
    let text = json["text"].as_str().unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines,
        ["Quarterly report is ready", "Deploy at 17:30 on Friday"],
        "{text:?}"
    );
    assert!(f.stub.requests().is_empty(), "OCR needs no model");
    Ok(())
}

#[tokio::test]
async fn bad_uploads_get_specific_errors() -> Result<()> {
    let mut f = fixture("[analysis]\nmax_image_bytes = 1048576\n").await?;
    let good = png(20, 20);
    // A real header (valid CRC) claiming 100000×100000 pixels: 30 GB decoded.
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut bomb = b"\x89PNG\r\n\x1a\n\0\0\0\x0d".to_vec();
    bomb.extend_from_slice(&ihdr);
    bomb.extend_from_slice(&crc32fast::hash(&ihdr).to_be_bytes());
    bomb.extend_from_slice(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82]);
    let big = vec![7u8; 1_100_000];
    let cases: Vec<(&str, Vec<Part<'_>>, StatusCode, &str)> = vec![
        (
            "text renamed .png",
            vec![
                ("mode", None, b"stub-chat"),
                ("image", Some("notes.png"), b"just some text, honest"),
            ],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_image_type",
        ),
        (
            "truncated PNG",
            vec![
                ("mode", None, b"stub-chat"),
                ("image", Some("cut.png"), &good[..good.len() - 30]),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_image",
        ),
        (
            "100000x100000 header",
            vec![("mode", None, b"stub-chat"), ("image", Some("bomb.png"), &bomb)],
            StatusCode::UNPROCESSABLE_ENTITY,
            "image_dimensions_too_large",
        ),
        (
            "zero bytes",
            vec![("mode", None, b"stub-chat"), ("image", Some("empty.png"), b"")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_image",
        ),
        (
            "neither image nor question",
            vec![("mode", None, b"stub-chat"), ("context", None, b"  ")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
        ),
        (
            "no mode part",
            vec![("image", Some("a.png"), &good)],
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_field",
        ),
        (
            "unknown mode",
            vec![("mode", None, b"no-such-mode"), ("image", Some("a.png"), &good)],
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_mode",
        ),
        (
            "rewrite mode",
            vec![
                ("mode", None, b"rewrite-clearer"),
                ("image", Some("a.png"), &good),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_mode_kind",
        ),
        (
            "over the size limit",
            vec![("mode", None, b"stub-chat"), ("image", Some("big.png"), &big)],
            StatusCode::PAYLOAD_TOO_LARGE,
            "image_too_large",
        ),
    ];
    for (name, parts, status, expected) in cases {
        let (got_status, json) = f.analyze_json(&parts).await?;
        assert_eq!((got_status, code(&json)), (status, expected), "{name}: {json}");
        if got_status == StatusCode::PAYLOAD_TOO_LARGE {
            // The server may close a connection whose body it refused to read.
            f.conn = f.server.connect(Some(&f.identity)).await?;
        }
    }
    assert!(f.stub.requests().is_empty(), "nothing bad reached the provider");
    let wrong_type = f
        .conn
        .send(
            Method::POST,
            "/native/analyze",
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {}", f.session.access_token)),
            ],
            Some(b"{}".to_vec()),
        )
        .await?;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    Ok(())
}

#[tokio::test]
async fn too_many_concurrent_analyses_are_refused_with_retry_after() -> Result<()> {
    let mut f = fixture("[analysis]\nconcurrent_per_user = 1\n").await?;
    f.stub.set(Behaviour {
        deltas: vec!["slow".into(), "ly".into()],
        delay: Duration::from_millis(1500),
        ..Behaviour::default()
    });
    let image = png(16, 16);
    let running = f
        .analyze(
            &[("mode", None, b"stub-chat"), ("image", Some("a.png"), &image)],
            true,
        )
        .await?;
    let identity = f.server.issue_cert("ada").await?;
    let mut second_conn = f.server.connect(Some(&identity)).await?;
    let (content_type, body) = multipart(&[("mode", None, b"stub-chat"), ("image", Some("a.png"), &image)]);
    // The token is bound to the first certificate; the second device logs in itself.
    let second = sightline_tests::first_login(&mut second_conn, "ada", PASSWORD).await;
    let token = match second {
        Ok(session) => session.access_token,
        Err(_) => {
            // Enrolment is done: log in with a recovery code instead.
            let login = second_conn
                .post_json(
                    "/native/login",
                    &serde_json::json!({"username": "ada", "password": PASSWORD}),
                    None,
                )
                .await?;
            let verified = second_conn
                .post_json("/native/verify-2fa", &serde_json::json!({"challenge": login.json()["challenge"], "code": f.session.recovery_codes[0]}), None)
                .await?;
            verified.json()["access_token"].as_str().unwrap().to_owned()
        }
    };
    let refused = second_conn
        .send(
            Method::POST,
            "/native/analyze",
            &[
                ("content-type", &content_type),
                ("authorization", &format!("Bearer {token}")),
            ],
            Some(body),
        )
        .await?;
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert!(refused.headers.contains_key("retry-after"));
    let events = read_events(running, Duration::from_secs(10)).await?;
    assert!(matches!(events.last(), Some((StreamEvent::Done { .. }, _))));
    Ok(())
}
