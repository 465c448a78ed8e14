//! Logs on stderr: human-readable lines when stderr is a terminal (a person is watching), JSON otherwise (one
//! object per event, dotted field names, for whatever collects them), or as `--log-format` says.
//!
//! Every line passes through [`palisade_core::redact::card_numbers`] before it is written: logs are shipped,
//! kept and read by many people, and a card number that reached a log field by any road (a path, an error, a
//! value echoed by a library) must not be kept there.

use std::io::{IsTerminal, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::cli::LogFormat;

/// The format asked for (flag, `PALISADE_LOG_FORMAT` or the config file), else text on a terminal and JSON when
/// stderr goes to a file, a pipe or a collector.
#[must_use]
pub fn choose(asked: Option<LogFormat>, stderr: Stderr) -> LogFormat {
    asked.unwrap_or(match stderr {
        Stderr::Terminal => LogFormat::Text,
        Stderr::Redirected => LogFormat::Json,
    })
}

/// Where stderr goes: a person's terminal, or a file, pipe or collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stderr {
    Terminal,
    Redirected,
}

/// [`choose`] for this process's stderr.
#[must_use]
pub fn for_stderr(asked: Option<LogFormat>) -> LogFormat {
    choose(asked, if std::io::stderr().is_terminal() { Stderr::Terminal } else { Stderr::Redirected })
}

/// Installs the global subscriber. `default_level` applies when `PALISADE_LOG` is not set.
pub fn init(format: LogFormat, default_level: &str) {
    let filter = EnvFilter::try_from_env("PALISADE_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(Redacting(std::io::stderr));
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
        // Colours only for a terminal: text asked for in a file or pipe stays free of escape codes.
        LogFormat::Text => builder.compact().with_ansi(std::io::stderr().is_terminal()).try_init(),
    };
}

/// Makes one [`EventWriter`] per log event around the inner writer.
#[derive(Debug, Clone, Copy)]
pub struct Redacting<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = EventWriter<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        EventWriter { buf: Vec::with_capacity(256), inner: self.0.make_writer() }
    }
}

/// Collects one event's bytes and writes them, redacted, when the event is done (on drop), so a card number is
/// seen whole even if the formatter wrote it in pieces.
#[derive(Debug)]
pub struct EventWriter<W: Write> {
    buf: Vec<u8>,
    inner: W,
}

impl<W: Write> EventWriter<W> {
    fn emit(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.buf);
        let result = self.inner.write_all(palisade_core::redact::card_numbers(&text).as_bytes());
        self.buf.clear();
        result
    }
}

impl<W: Write> Write for EventWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.emit()?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for EventWriter<W> {
    fn drop(&mut self) {
        let _ = self.emit();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn text_for_a_person_json_for_a_machine_unless_asked() {
        assert_eq!(choose(None, Stderr::Terminal), LogFormat::Text);
        assert_eq!(choose(None, Stderr::Redirected), LogFormat::Json);
        assert_eq!(choose(Some(LogFormat::Json), Stderr::Terminal), LogFormat::Json);
        assert_eq!(choose(Some(LogFormat::Text), Stderr::Redirected), LogFormat::Text);
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn log_lines_never_hold_a_card_number() {
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt().json().with_writer(Redacting(move || writer.clone())).finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(http.path = "/s/tea/p/4242424242424242", "looked up 5555 5555 5555 4444");
        });
        let out = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(out.contains("[card redacted]"), "{out}");
        assert!(!out.contains("4242424242424242") && !out.contains("5555 5555 5555 4444"), "{out}");
        assert!(out.contains("/s/tea/p/"), "the rest of the line is kept: {out}");
    }
}
