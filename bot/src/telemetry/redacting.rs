//! Every log line passes the one redactor (`medic_commands::redact`) on
//! its way to stderr: an error from a library can echo a DSN or a token
//! that no call site thought to scrub, and a log is read by more people
//! than the secret was meant for.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// Makes writers that redact what they are given before passing it on.
#[derive(Debug, Clone, Copy)]
pub struct Redacting<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(self.0.make_writer())
    }
}

/// One redacting writer. The fmt layer formats an event into a buffer and
/// writes it with one call, so each call holds whole lines.
#[derive(Debug)]
pub struct RedactingWriter<W>(W);

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0
            .write_all(medic_commands::redact::redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_in_a_line_is_masked() {
        let mut out = Vec::new();
        let mut w = RedactingWriter(&mut out);
        w.write_all(
            b"WARN error=invalid_auth for xoxb-1234-5678-abcdef at postgres://app:pw123@db/app\n",
        )
        .unwrap();
        let line = String::from_utf8(out).unwrap();
        assert_eq!(
            line,
            "WARN error=invalid_auth for xox•-•••• at postgres://app:••••@db/app\n"
        );
    }
}
