//! The console as a chat platform (`medic console`): one channel, the
//! terminal. Messages come out of the same outbox as Slack's and Discord's
//! and are printed as a chat would show them — a root, its thread
//! indented under it, an edit saying which message now reads what — and
//! every button gets a number that `click N` presses (`approve N`, `deny
//! N` say what the button should be).
//!
//! - this file: [`ConsoleRuntime`], the terminal's side: printing and the
//!   numbered buttons.
//! - [`send`]: the outbox's rows, printed.
//! - [`session`]: the prompt: what a person types, turned into commands,
//!   alerts (`/alert sentry FILE`) and clicks, as the other platforms'
//!   inbound handlers do.

pub mod send;
pub mod session;

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use medic_integrations::chat::console::draw::{ConsoleButton, ConsoleMessage};

/// The console's one channel.
pub const CHANNEL: &str = "console";

/// Where a message goes on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown<'a> {
    /// A new message in the channel.
    Root,
    /// A reply in the thread of message `'a`.
    Reply(&'a str),
    /// Message `'a`, replaced.
    Edit(&'a str),
}

/// The terminal, as a chat.
pub struct ConsoleRuntime {
    out: Mutex<Box<dyn Write + Send>>,
    /// Every button shown, in order: button `n` is `buttons[n - 1]`.
    buttons: Mutex<Vec<ConsoleButton>>,
    seq: AtomicU64,
}

impl std::fmt::Debug for ConsoleRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleRuntime").finish_non_exhaustive()
    }
}

impl ConsoleRuntime {
    /// A console printing to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        ConsoleRuntime {
            out: Mutex::new(out),
            buttons: Mutex::new(Vec::new()),
            seq: AtomicU64::new(0),
        }
    }

    /// Prints `message` where `shown` says; returns its id (`m3`).
    pub fn show(&self, shown: Shown<'_>, message: &ConsoleMessage) -> String {
        let id = match shown {
            Shown::Edit(id) => id.to_string(),
            _ => format!("m{}", self.seq.fetch_add(1, Ordering::Relaxed) + 1),
        };
        let (head, indent) = match shown {
            Shown::Root => (format!("medic › [{id}] "), "        "),
            Shown::Reply(root) => (format!("   ↳ [{root}] "), "        │ "),
            Shown::Edit(_) => (format!("medic › [{id} now reads] "), "        "),
        };
        let mut text = String::new();
        for (i, line) in message.text.lines().enumerate() {
            text.push_str(if i == 0 { &head } else { indent });
            text.push_str(line);
            text.push('\n');
        }
        if !message.buttons.is_empty() {
            let mut buttons = self.buttons.lock().expect("console buttons");
            let labels: Vec<String> = message
                .buttons
                .iter()
                .map(|b| {
                    buttons.push(b.clone());
                    format!("[{}] {}", buttons.len(), b.label)
                })
                .collect();
            text.push_str(indent);
            text.push_str(&labels.join("   "));
            text.push('\n');
        }
        self.print(&text);
        id
    }

    /// What medic says to the person at the keyboard alone (an answer to
    /// a command or a click). These answers are written for chat, where
    /// `*word*` is bold; a terminal shows the word.
    pub fn say(&self, text: &str) {
        let text = text.replace('*', "");
        let mut out = String::new();
        for (i, line) in text.lines().enumerate() {
            out.push_str(if i == 0 {
                "medic › (only you) "
            } else {
                "        "
            });
            out.push_str(line);
            out.push('\n');
        }
        self.print(&out);
    }

    /// Button `n` as shown.
    pub fn button(&self, n: usize) -> Option<ConsoleButton> {
        let buttons = self.buttons.lock().expect("console buttons");
        n.checked_sub(1).and_then(|i| buttons.get(i)).cloned()
    }

    fn print(&self, text: &str) {
        let mut out = self.out.lock().expect("console output");
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}
