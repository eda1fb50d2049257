//! A small W3C WebDriver client: just what the desktop tests use (find,
//! click, type, read, run a script), over plain HTTP to
//! `tauri-driver` on loopback.

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

#[derive(Debug)]
pub struct WebDriver {
    http: reqwest::Client,
    session: String,
}

#[derive(Debug, Clone)]
pub struct Element(String);

impl WebDriver {
    /// Starts the app at `application` through the driver on `port`.
    pub async fn start(port: u16, application: &Path) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&json!({
                "capabilities": {
                    "alwaysMatch": {
                        "tauri:options": { "application": application },
                        "browserName": "wry"
                    }
                }
            }))
            .send()
            .await?
            .json()
            .await?;
        let session = answer["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no session: {answer}"))?
            .to_owned();
        Ok(Self {
            http,
            session: format!("{base}/session/{session}"),
        })
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await?.json().await?;
        if let Some(error) = answer["value"]["error"].as_str() {
            bail!("webdriver {path}: {error}: {}", answer["value"]["message"]);
        }
        Ok(answer["value"].clone())
    }

    /// The first element matching `css`, if any.
    pub async fn find(&self, css: &str) -> Result<Option<Element>> {
        let found = self
            .command(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        Ok(found
            .as_array()
            .and_then(|all| all.first())
            .and_then(|first| first[ELEMENT].as_str())
            .map(|id| Element(id.to_owned())))
    }

    /// Waits up to `timeout` for an element matching `css`.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(element) = self.find(css).await? {
                return Ok(element);
            }
            if Instant::now() > deadline {
                bail!("{css} did not appear within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `script` (a function body returning a value) returns
    /// something truthy, and gives that value.
    pub async fn wait_until(&self, what: &str, script: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.execute(script, json!([])).await?;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!("")
                && value != json!(0);
            if truthy {
                return Ok(value);
            }
            if Instant::now() > deadline {
                bail!("timed out after {timeout:?} waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    pub async fn click(&self, element: &Element) -> Result<()> {
        self.command(
            reqwest::Method::POST,
            &format!("/element/{}/click", element.0),
            Some(json!({})),
        )
        .await
        .map(drop)
    }

    /// Clears the field and types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let element = self.wait_for(css, Duration::from_secs(10)).await?;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{}/clear", element.0),
            Some(json!({})),
        )
        .await?;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{}/value", element.0),
            Some(json!({"text": text})),
        )
        .await
        .map(drop)
    }

    pub async fn click_on(&self, css: &str) -> Result<()> {
        let element = self.wait_for(css, Duration::from_secs(10)).await?;
        self.click(&element).await
    }

    pub async fn text(&self, css: &str) -> Result<String> {
        let element = self.wait_for(css, Duration::from_secs(10)).await?;
        let text = self
            .command(
                reqwest::Method::GET,
                &format!("/element/{}/text", element.0),
                None,
            )
            .await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// The `data-<key>` attribute of the first element matching `css`;
    /// empty when there is none.
    pub async fn data(&self, css: &str, key: &str) -> Result<String> {
        let value = self
            .execute(
                "const e = document.querySelector(arguments[0]); return e ? (e.dataset[arguments[1]] || '') : '';",
                json!([css, key]),
            )
            .await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// Runs a function body in the page with `args`.
    pub async fn execute(&self, script: &str, args: Value) -> Result<Value> {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Ends the session, which closes the app.
    pub async fn quit(self) -> Result<()> {
        self.http.delete(&self.session).send().await?;
        Ok(())
    }
}
