//! Synthetic keystrokes through `enigo`. One `Enigo` lives for the app's
//! life on the thread that runs the keystrokes: dropping it right after
//! typing can lose the last characters (it reverts the keycodes it
//! remapped for them), and macOS wants these calls on the main thread.

use crate::error::ClientError;
use enigo::{Direction, Enigo, Key, Keyboard as _, Settings};
use std::cell::RefCell;
use std::sync::mpsc;
use std::sync::Arc;

/// Runs a job on the thread that owns the keyboard (the main thread on
/// macOS, given by the shell).
pub type Runner = Arc<dyn Fn(Box<dyn FnOnce() + Send>) + Send + Sync>;

thread_local! {
    static ENIGO: RefCell<Option<Enigo>> = const { RefCell::new(None) };
}

pub struct Keyboard {
    runner: Runner,
}

impl std::fmt::Debug for Keyboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyboard")
    }
}

fn failed(error: impl std::fmt::Display) -> ClientError {
    ClientError::Injection(format!("the keyboard: {error}"))
}

/// How long a few keystrokes may take.
const SHORT: std::time::Duration = std::time::Duration::from_secs(5);

/// The platform's shortcut modifier: Cmd on macOS, Ctrl elsewhere.
const SHORTCUT: Key = if cfg!(target_os = "macos") {
    Key::Meta
} else {
    Key::Control
};

impl Keyboard {
    /// Keystrokes on a thread of their own.
    pub fn on_own_thread() -> Result<Self, ClientError> {
        let (jobs, queue) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
        std::thread::Builder::new()
            .name("keyboard".into())
            .spawn(move || {
                // Ready before the first shortcut: building the keymap takes
                // a moment, and the first keystroke must not wait for it.
                ENIGO.with(|cell| {
                    if let Ok(enigo) = Enigo::new(&Settings::default()) {
                        *cell.borrow_mut() = Some(enigo);
                    }
                });
                for job in queue {
                    job();
                }
            })
            .map_err(failed)?;
        let jobs = std::sync::Mutex::new(jobs);
        Ok(Self {
            runner: Arc::new(move |job| {
                let sent = jobs.lock().map(|jobs| jobs.send(job).is_ok()).unwrap_or(false);
                if !sent {
                    tracing::warn!("the keyboard thread is gone");
                }
            }),
        })
    }

    /// Keystrokes through `runner` (macOS: the app's main thread).
    pub fn with_runner(runner: Runner) -> Self {
        Self { runner }
    }

    /// Runs `job` on the keyboard's thread and waits for it, at most
    /// `patience`: a display that stopped answering must not hold the
    /// caller (and a rewrite marked as being applied) for ever.
    fn run<T: Send + 'static>(
        &self,
        patience: std::time::Duration,
        job: impl FnOnce(&mut Enigo) -> Result<T, ClientError> + Send + 'static,
    ) -> Result<T, ClientError> {
        let (reply, answer) = mpsc::sync_channel(1);
        (self.runner)(Box::new(move || {
            let result = ENIGO.with(|cell| {
                let mut slot = cell.borrow_mut();
                if slot.is_none() {
                    *slot = Some(Enigo::new(&Settings::default()).map_err(failed)?);
                }
                match slot.as_mut() {
                    Some(enigo) => job(enigo),
                    None => Err(failed("not available")),
                }
            });
            let _ = reply.send(result);
        }));
        answer
            .recv_timeout(patience)
            .map_err(|_| failed("the keystrokes did not finish in time"))?
    }

    fn chord(&self, letter: char) -> Result<(), ClientError> {
        self.run(SHORT, move |enigo| {
            enigo.key(SHORTCUT, Direction::Press).map_err(failed)?;
            let typed = enigo.key(Key::Unicode(letter), Direction::Click).map_err(failed);
            // Always let go of the modifier, even when the letter failed.
            enigo.key(SHORTCUT, Direction::Release).map_err(failed)?;
            typed
        })
    }

    /// Ctrl+C (Cmd+C).
    pub fn copy(&self) -> Result<(), ClientError> {
        self.chord('c')
    }

    /// Ctrl+V (Cmd+V).
    pub fn paste(&self) -> Result<(), ClientError> {
        self.chord('v')
    }

    /// Types `text`. Line breaks and tabs are pressed as the Return and Tab
    /// keys: typed as characters, X applications receive a keysym (for
    /// `\n`, Linefeed) that text fields ignore.
    pub fn type_text(&self, text: &str) -> Result<(), ClientError> {
        let text = text.replace("\r\n", "\n");
        // Typing is slow in some applications: allow 50 ms a character.
        let patience = SHORT + std::time::Duration::from_millis(50).saturating_mul(text.len() as u32);
        self.run(patience, move |enigo| {
            let mut run = String::new();
            for c in text.chars() {
                let key = match c {
                    '\n' | '\r' => Key::Return,
                    '\t' => Key::Tab,
                    _ => {
                        run.push(c);
                        continue;
                    }
                };
                if !run.is_empty() {
                    enigo.text(&run).map_err(failed)?;
                    run.clear();
                }
                enigo.key(key, Direction::Click).map_err(failed)?;
            }
            if !run.is_empty() {
                enigo.text(&run).map_err(failed)?;
            }
            Ok(())
        })
    }

    /// Lets go of Shift, Alt and Super, which the user may still hold from
    /// the shortcut that started all this: with them down, Ctrl+C would
    /// arrive as Ctrl+Shift+C.
    pub fn release_modifiers(&self) -> Result<(), ClientError> {
        self.run(SHORT, |enigo| {
            for key in [Key::Shift, Key::Alt, Key::Meta, Key::Control] {
                enigo.key(key, Direction::Release).map_err(failed)?;
            }
            Ok(())
        })
    }
}
