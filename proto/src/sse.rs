//! An incremental parser for `text/event-stream` (server-sent events).
//! Feed it bytes as they arrive, in chunks of any size (a chunk may end in
//! the middle of a line or of a UTF-8 character); it yields each complete
//! event. Pure: no I/O.

/// One event: its name (`message` when none is given) and its data lines
/// joined with `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    buffer: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
}

/// A single event larger than this is a broken stream, not a long answer.
pub const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTooLarge;

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes; returns the events they complete.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, EventTooLarge> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        // Walk the complete lines with a cursor and drop them once at the
        // end: draining line by line would move the rest each time.
        let mut start = 0;
        while let Some(offset) = self.buffer[start..].iter().position(|b| *b == b'\n') {
            let end = start + offset;
            let mut line = &self.buffer[start..end];
            start = end + 1;
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let line = String::from_utf8_lossy(line).into_owned();
            if line.is_empty() {
                if !self.data.is_empty() || self.event.is_some() {
                    events.push(SseEvent {
                        event: self.event.take().unwrap_or_else(|| "message".into()),
                        data: std::mem::take(&mut self.data).join("\n"),
                    });
                }
                continue;
            }
            if line.starts_with(':') {
                continue; // a comment (keep-alive)
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line.as_ref(), ""),
            };
            match field {
                "event" => self.event = Some(value.to_owned()),
                "data" => self.data.push(value.to_owned()),
                _ => {}
            }
        }
        self.buffer.drain(..start);
        let pending = self.buffer.len() + self.data.iter().map(String::len).sum::<usize>();
        if pending > MAX_EVENT_BYTES {
            return Err(EventTooLarge);
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_characters() {
        let stream = "event: delta\ndata: {\"text\":\"caf\u{e9}\"}\n\n: keep-alive\n\ndata: [DONE]\r\n\r\n";
        let bytes = stream.as_bytes();
        for split in 1..bytes.len() {
            let mut parser = SseParser::new();
            let mut events = parser.push(&bytes[..split]).unwrap();
            events.extend(parser.push(&bytes[split..]).unwrap());
            assert_eq!(
                events,
                vec![
                    SseEvent {
                        event: "delta".into(),
                        data: "{\"text\":\"caf\u{e9}\"}".into()
                    },
                    SseEvent {
                        event: "message".into(),
                        data: "[DONE]".into()
                    },
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn multi_line_data_joins_and_oversized_events_fail() {
        let mut parser = SseParser::new();
        assert_eq!(parser.push(b"data: a\ndata: b\n\n").unwrap()[0].data, "a\nb");
        let mut parser = SseParser::new();
        assert_eq!(parser.push(&vec![b'x'; MAX_EVENT_BYTES + 1]), Err(EventTooLarge));
    }
}
