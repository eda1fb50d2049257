//! Approved text rewrite: read the text selected in another application,
//! and — only after the user approved the replacement — type or paste it
//! back into that same window.
//!
//! The rules, each checked here rather than left to the UI:
//! - the target is recorded when the shortcut is pressed (window id,
//!   process, title);
//! - reading the selection borrows the clipboard and gives it back;
//! - on Apply, the window the user left for the sidebar must still be the
//!   target, and after focus returns to it the focused window must be the
//!   target (by id); otherwise nothing is typed;
//! - short ASCII text is typed, anything longer or non-ASCII is pasted and
//!   the clipboard restored after the target has read it.
//!
//! [`session`] keeps one rewrite at a time (the panel's state and the
//! injection log); [`diff`] is the word-level difference the confirmation
//! shows.

pub mod diff;
pub mod session;

use crate::error::ClientError;
use crate::seat::{Seat, WindowRef};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The longest text sent for a rewrite: the server's default limit, so
/// the user hears it before anything is sent.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// How the replacement reaches the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Type,
    Paste,
}

/// Timings of the conversation with other applications.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long a copied selection may take to reach the clipboard.
    pub copy_timeout: Duration,
    /// How long the target may take to come back to the front.
    pub focus_timeout: Duration,
    /// How long the target is given to read a pasted text before the
    /// user's clipboard is put back. X11 has no notice that the paste was
    /// read; this covers a busy application.
    pub paste_settle: Duration,
    pub poll: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            copy_timeout: Duration::from_millis(1000),
            focus_timeout: Duration::from_millis(1500),
            paste_settle: Duration::from_millis(400),
            poll: Duration::from_millis(10),
        }
    }
}

/// Typed rather than pasted: ASCII without control characters other than
/// newlines and tabs, at most `type_limit` characters.
pub fn choose_method(text: &str, type_limit: usize) -> Method {
    let typeable = text
        .chars()
        .all(|c| c.is_ascii() && (!c.is_ascii_control() || c == '\n' || c == '\t'));
    if typeable && text.len() <= type_limit {
        Method::Type
    } else {
        Method::Paste
    }
}

/// The text selected in `target` (`None`: nothing was selected).
#[derive(Debug, Clone)]
pub struct Selection {
    pub target: WindowRef,
    pub text: Option<String>,
}

/// Records the focused window and copies its selection, giving the user's
/// clipboard back afterwards.
pub fn read_selection(seat: &dyn Seat, timing: Timing) -> Result<Selection, ClientError> {
    let target = seat
        .active_window()?
        .ok_or_else(|| ClientError::Injection("no window has the keyboard focus".into()))?;
    if seat.is_own(&target) {
        return Err(ClientError::Injection(
            "select text in another application, then press the shortcut there".into(),
        ));
    }
    let started = Instant::now();
    seat.prepare()?;
    seat.release_modifiers()?;
    ensure_focused(seat, &target)?;
    let before = seat.clipboard_snapshot()?;
    // A marker first, so neither the old content nor a clipboard manager
    // putting it back after a clear can pass for the copy.
    let marker = format!("sightline-copy-{:x}", unique());
    let copied = seat
        .clipboard_set_privately(&marker)
        .and_then(|()| seat.press_copy())
        .and_then(|()| wait_for_text(seat, &target, &marker, timing));
    let restored = seat.clipboard_restore(before);
    let text = copied?;
    restored?;
    tracing::info!(
        chars = text.as_ref().map_or(0, |t| t.chars().count()),
        elapsed_ms = started.elapsed().as_millis(),
        app = %target.app,
        "selection read"
    );
    Ok(Selection { target, text })
}

/// A number that differs from call to call (clock and a counter).
fn unique() -> u128 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    now ^ u128::from(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// Keystrokes go to whatever has the focus: only to the target.
fn ensure_focused(seat: &dyn Seat, target: &WindowRef) -> Result<(), ClientError> {
    match seat.active_window()? {
        Some(active) if active.id == target.id => Ok(()),
        _ => Err(ClientError::Injection(format!(
            "“{}” no longer has the focus",
            target.describe()
        ))),
    }
}

/// Waits for the copy to replace `marker` on the clipboard. An application
/// that was busy may miss the first Ctrl+C, so it is pressed once more
/// halfway through — if the target still has the focus.
fn wait_for_text(
    seat: &dyn Seat,
    target: &WindowRef,
    marker: &str,
    timing: Timing,
) -> Result<Option<String>, ClientError> {
    let started = Instant::now();
    let mut pressed_again = false;
    loop {
        if let Some(text) = seat
            .clipboard_text()?
            .filter(|text| !text.is_empty() && text != marker)
        {
            return Ok(Some(text));
        }
        let waited = started.elapsed();
        if waited >= timing.copy_timeout {
            return Ok(None);
        }
        if !pressed_again && waited >= timing.copy_timeout / 2 {
            pressed_again = true;
            if ensure_focused(seat, target).is_ok() {
                seat.press_copy()?;
            }
        }
        std::thread::sleep(timing.poll);
    }
}

/// What an injection did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Injected {
    pub method: Method,
    pub chars: u32,
    pub target: WindowRef,
}

/// Brings `target` back and puts `text` into it — typed or pasted as
/// [`choose_method`] decides — or types nothing and says why.
pub fn inject(
    seat: &dyn Seat,
    target: &WindowRef,
    text: &str,
    type_limit: usize,
    timing: Timing,
) -> Result<Injected, ClientError> {
    inject_with(seat, target, text, choose_method(text, type_limit), timing)
}

/// [`inject`] with the method given (the benchmark compares both).
pub fn inject_with(
    seat: &dyn Seat,
    target: &WindowRef,
    text: &str,
    method: Method,
    timing: Timing,
) -> Result<Injected, ClientError> {
    // The window the user left for the sidebar must be the target: if they
    // went elsewhere, Apply is not meant for the target any more.
    match seat.last_foreign_window() {
        Some(left) if left.id == target.id => {}
        Some(left) => {
            return Err(ClientError::Injection(format!(
                "the focus moved to “{}” after the text was read; go back to “{}” and apply again",
                left.describe(),
                target.describe()
            )))
        }
        None => {
            return Err(ClientError::Injection(
                "the window the text came from cannot be found".into(),
            ))
        }
    }
    seat.prepare()?;
    seat.activate(target)?;
    let deadline = Instant::now() + timing.focus_timeout;
    loop {
        match seat.active_window()? {
            Some(active) if active.id == target.id => break,
            active => {
                if Instant::now() >= deadline {
                    let now =
                        active.map_or_else(|| "no window".to_owned(), |w| format!("“{}”", w.describe()));
                    return Err(ClientError::Injection(format!(
                        "“{}” did not come back to the front ({now} has the focus)",
                        target.describe()
                    )));
                }
                std::thread::sleep(timing.poll);
            }
        }
    }
    // Modifiers still held (Ctrl from Ctrl+Enter) would turn typed letters
    // into shortcuts in the target.
    seat.release_modifiers()?;
    ensure_focused(seat, target)?;
    match method {
        Method::Type => seat.type_text(text)?,
        Method::Paste => {
            let before = seat.clipboard_snapshot()?;
            let pasted = seat
                .clipboard_set_privately(text)
                .and_then(|()| seat.press_paste())
                .map(|()| std::thread::sleep(timing.paste_settle));
            let restored = seat.clipboard_restore(before);
            pasted?;
            restored?;
        }
    }
    Ok(Injected {
        method,
        chars: u32::try_from(text.chars().count()).unwrap_or(u32::MAX),
        target: target.clone(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::clipboard::Snapshot;
    use std::sync::Mutex;

    /// A seat that records what was done to it.
    #[derive(Debug, Default)]
    pub(crate) struct FakeSeat {
        pub active: Mutex<Option<WindowRef>>,
        pub last_foreign: Mutex<Option<WindowRef>>,
        /// The target's selection, copied on Ctrl+C.
        pub selection: Option<String>,
        pub clipboard: Mutex<Option<String>>,
        /// Activation brings the window forward.
        pub activation_works: bool,
        pub log: Mutex<Vec<String>>,
    }

    pub(crate) fn window(id: u64, app: &str) -> WindowRef {
        WindowRef {
            id,
            pid: Some(1000 + u32::try_from(id).unwrap()),
            app: app.into(),
            title: format!("{app} window"),
        }
    }

    impl FakeSeat {
        pub(crate) fn focused_on(window: WindowRef) -> Self {
            Self {
                active: Mutex::new(Some(window.clone())),
                last_foreign: Mutex::new(Some(window)),
                activation_works: true,
                ..Self::default()
            }
        }

        fn note(&self, entry: String) {
            self.log.lock().unwrap().push(entry);
        }

        pub(crate) fn typed(&self) -> Vec<String> {
            self.log
                .lock()
                .unwrap()
                .iter()
                .filter(|e| e.starts_with("type:") || e.starts_with("paste:"))
                .cloned()
                .collect()
        }
    }

    impl crate::seat::Windows for FakeSeat {
        fn active_window(&self) -> Result<Option<WindowRef>, ClientError> {
            Ok(self.active.lock().unwrap().clone())
        }
        fn last_foreign_window(&self) -> Option<WindowRef> {
            self.last_foreign.lock().unwrap().clone()
        }
        fn is_own(&self, window: &WindowRef) -> bool {
            window.app == "sightline"
        }
    }

    impl Seat for FakeSeat {
        fn activate(&self, window: &WindowRef) -> Result<(), ClientError> {
            self.note(format!("activate:{}", window.id));
            if self.activation_works {
                *self.active.lock().unwrap() = Some(window.clone());
            }
            Ok(())
        }
        fn release_modifiers(&self) -> Result<(), ClientError> {
            Ok(())
        }
        fn button_held(&self) -> Result<bool, ClientError> {
            Ok(false)
        }
        fn press_copy(&self) -> Result<(), ClientError> {
            self.note("copy".into());
            if let Some(text) = &self.selection {
                *self.clipboard.lock().unwrap() = Some(text.clone());
            }
            Ok(())
        }
        fn press_paste(&self) -> Result<(), ClientError> {
            let text = self.clipboard.lock().unwrap().clone().unwrap_or_default();
            self.note(format!("paste:{text}"));
            Ok(())
        }
        fn type_text(&self, text: &str) -> Result<(), ClientError> {
            self.note(format!("type:{text}"));
            Ok(())
        }
        fn clipboard_snapshot(&self) -> Result<Snapshot, ClientError> {
            Ok(match self.clipboard.lock().unwrap().clone() {
                Some(text) => Snapshot::Text(text),
                None => Snapshot::Empty,
            })
        }
        fn clipboard_restore(&self, snapshot: Snapshot) -> Result<(), ClientError> {
            *self.clipboard.lock().unwrap() = match snapshot {
                Snapshot::Text(text) => Some(text),
                _ => None,
            };
            Ok(())
        }
        fn clipboard_clear(&self) -> Result<(), ClientError> {
            *self.clipboard.lock().unwrap() = None;
            Ok(())
        }
        fn clipboard_text(&self) -> Result<Option<String>, ClientError> {
            Ok(self.clipboard.lock().unwrap().clone())
        }
        fn clipboard_set_privately(&self, text: &str) -> Result<(), ClientError> {
            *self.clipboard.lock().unwrap() = Some(text.to_owned());
            Ok(())
        }
    }

    pub(crate) fn quick() -> Timing {
        Timing {
            copy_timeout: Duration::from_millis(50),
            focus_timeout: Duration::from_millis(50),
            paste_settle: Duration::ZERO,
            poll: Duration::from_millis(1),
        }
    }

    #[test]
    fn short_ascii_is_typed_everything_else_pasted() {
        assert_eq!(choose_method("Hello, world!\nBye", 64), Method::Type);
        assert_eq!(choose_method("naïve café", 64), Method::Paste);
        assert_eq!(choose_method(&"a".repeat(65), 64), Method::Paste);
        assert_eq!(choose_method("bell\u{7}", 64), Method::Paste);
        assert_eq!(choose_method("anything", 0), Method::Paste);
    }

    #[test]
    fn the_selection_is_read_and_the_clipboard_given_back() {
        let mut seat = FakeSeat::focused_on(window(7, "gedit"));
        seat.selection = Some("selected words".into());
        *seat.clipboard.get_mut().unwrap() = Some("the user's clipboard".into());
        let selection = read_selection(&seat, quick()).unwrap();
        assert_eq!(selection.text.as_deref(), Some("selected words"));
        assert_eq!(selection.target.id, 7);
        assert_eq!(
            seat.clipboard_text().unwrap().as_deref(),
            Some("the user's clipboard")
        );
    }

    #[test]
    fn nothing_selected_is_not_mistaken_for_the_old_clipboard() {
        let seat = FakeSeat::focused_on(window(7, "gedit"));
        *seat.clipboard.lock().unwrap() = Some("old".into());
        let selection = read_selection(&seat, quick()).unwrap();
        assert_eq!(selection.text, None);
        assert_eq!(seat.clipboard_text().unwrap().as_deref(), Some("old"));
    }

    #[test]
    fn the_shortcut_in_our_own_window_reads_nothing() {
        let seat = FakeSeat::focused_on(window(1, "sightline"));
        assert!(read_selection(&seat, quick()).is_err());
        assert!(seat.log.lock().unwrap().is_empty(), "nothing was pressed");
    }

    #[test]
    fn apply_types_into_the_target_after_bringing_it_back() {
        let target = window(7, "gedit");
        let seat = FakeSeat::focused_on(target.clone());
        // The user clicked Apply in the sidebar: it has the focus now.
        *seat.active.lock().unwrap() = Some(window(1, "sightline"));
        let injected = inject(&seat, &target, "Short text.", 64, quick()).unwrap();
        assert_eq!(injected.method, Method::Type);
        assert_eq!(injected.chars, 11);
        assert_eq!(*seat.log.lock().unwrap(), vec!["activate:7", "type:Short text."]);
    }

    #[test]
    fn long_text_is_pasted_and_the_clipboard_restored() {
        let target = window(7, "gedit");
        let seat = FakeSeat::focused_on(target.clone());
        *seat.clipboard.lock().unwrap() = Some("keep me".into());
        let text = "naïve café — 東京 ✓";
        let injected = inject(&seat, &target, text, 64, quick()).unwrap();
        assert_eq!(injected.method, Method::Paste);
        assert_eq!(injected.chars, 17);
        assert_eq!(seat.typed(), vec![format!("paste:{text}")]);
        assert_eq!(seat.clipboard_text().unwrap().as_deref(), Some("keep me"));
    }

    #[test]
    fn focus_moved_elsewhere_types_nothing() {
        let target = window(7, "gedit");
        let seat = FakeSeat::focused_on(target.clone());
        *seat.last_foreign.lock().unwrap() = Some(window(9, "xterm"));
        let error = inject(&seat, &target, "text", 64, quick()).unwrap_err();
        assert!(error.to_string().contains("xterm"), "{error}");
        assert!(seat.log.lock().unwrap().is_empty(), "not even activated");
    }

    #[test]
    fn a_target_that_does_not_come_back_gets_nothing() {
        let target = window(7, "gedit");
        let mut seat = FakeSeat::focused_on(target.clone());
        seat.activation_works = false;
        *seat.active.get_mut().unwrap() = Some(window(9, "xterm"));
        let error = inject(&seat, &target, "text", 64, quick()).unwrap_err();
        assert!(error.to_string().contains("did not come back"), "{error}");
        assert!(seat.typed().is_empty());
    }
}
