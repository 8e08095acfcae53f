//! The input limits every sender's body must keep, checked before anything is appended:
//! nesting depth, alerts per request, labels per alert and the size of every text.
//!
//! The HTTP layer caps the body at 1 MiB; these bound what a body within that size can
//! make the parser and the fold do (serde_json alone allows nesting 128 levels deep,
//! and a 1 MiB body can hold tens of thousands of tiny labels).

use crate::alertmanager::IngestError;
use crate::notification::Notification;

/// Deepest nesting of JSON arrays and objects accepted in a body.
pub const MAX_JSON_DEPTH: usize = 32;
/// Most alerts (or CloudEvents, or Grafana alerts) one request may carry. Alertmanager's
/// `max_alerts` on the webhook receiver truncates its groups to fit (and says how many
/// it left out, which the timeline shows).
pub const MAX_ALERTS_PER_REQUEST: usize = 2_000;
/// Most labels, and separately most annotations, one alert may carry.
pub const MAX_LABELS_PER_ALERT: usize = 64;
/// Longest text accepted for a label or annotation name or value, a title, a group key,
/// a fingerprint or a link, in bytes.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// Refuses a body whose arrays and objects nest deeper than [`MAX_JSON_DEPTH`], naming the
/// byte offset where the limit was crossed. Runs before parsing, so a hostile body costs
/// one pass over its bytes and no allocation. Bytes that are not JSON pass through: the
/// parser refuses them with its own reason.
pub fn check_json_depth(bytes: &[u8]) -> Result<(), IngestError> {
    let mut depth = 0usize;
    let mut offset = 0;
    while let Some(&byte) = bytes.get(offset) {
        match byte {
            b'"' => {
                // To the closing quote in strides: string contents are most of a body, and
                // only a quote or a backslash inside them matters.
                offset += 1;
                loop {
                    let Some(found) = bytes
                        .get(offset..)
                        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
                    else {
                        // An unterminated string: the parser says so.
                        return Ok(());
                    };
                    offset += found;
                    if bytes[offset] == b'"' {
                        break;
                    }
                    // A backslash escapes the byte after it, whatever it is.
                    offset += 2;
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(IngestError {
                        field: "body".to_owned(),
                        message: format!(
                            "nested deeper than {MAX_JSON_DEPTH} levels (at byte {offset})"
                        ),
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        offset += 1;
    }
    Ok(())
}

/// Refuses a count of alerts above [`MAX_ALERTS_PER_REQUEST`]; `field` names the array.
pub fn check_alert_count(field: &str, count: usize) -> Result<(), IngestError> {
    if count > MAX_ALERTS_PER_REQUEST {
        return Err(IngestError {
            field: field.to_owned(),
            message: format!(
                "holds {count} alerts; at most {MAX_ALERTS_PER_REQUEST} are accepted per request"
            ),
        });
    }
    Ok(())
}

impl Notification {
    /// Refuses a notification over any of the limits, naming the field at fault in the
    /// normalized model (`alerts[3].labels`, `alerts[0].annotations.description`).
    pub fn check_limits(&self) -> Result<(), IngestError> {
        check_alert_count("alerts", self.alerts.len())?;
        check_text("groupKey", &self.group_key)?;
        check_text("receiver", &self.receiver)?;
        check_text("externalURL", &self.external_url)?;
        check_text("title", &self.title)?;
        if let Some(service) = &self.service {
            check_text("service", service)?;
        }
        for (index, alert) in self.alerts.iter().enumerate() {
            // Paths are spelled out only for an error: valid bodies are the usual case.
            let at = |field: &str| format!("alerts[{index}].{field}");
            check_text_at(|| at("fingerprint"), &alert.fingerprint)?;
            check_text_at(|| at("generatorURL"), &alert.generator_url)?;
            for (field, map) in [
                ("labels", &alert.labels),
                ("annotations", &alert.annotations),
            ] {
                if map.len() > MAX_LABELS_PER_ALERT {
                    return Err(IngestError {
                        field: at(field),
                        message: format!(
                            "holds {} entries; at most {MAX_LABELS_PER_ALERT} are accepted",
                            map.len()
                        ),
                    });
                }
                for (name, value) in map {
                    let path = || at(&format!("{field}.{}", shorten(name)));
                    check_text_at(path, name)?;
                    check_text_at(path, value)?;
                }
            }
        }
        Ok(())
    }
}

fn check_text(field: &str, text: &str) -> Result<(), IngestError> {
    check_text_at(|| field.to_owned(), text)
}

/// [`check_text`] with the field's name made only when it is needed.
fn check_text_at(field: impl FnOnce() -> String, text: &str) -> Result<(), IngestError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(IngestError {
            field: field(),
            message: format!(
                "is {} bytes long; at most {MAX_TEXT_BYTES} are accepted",
                text.len()
            ),
        });
    }
    Ok(())
}

/// A label name short enough to quote in an error path (a refused name may be 1 MiB).
fn shorten(name: &str) -> &str {
    const QUOTED_BYTES: usize = 64;
    if name.len() <= QUOTED_BYTES {
        return name;
    }
    let mut end = QUOTED_BYTES;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_only_structure_outside_strings() {
        let at_limit = format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH),
            "]".repeat(MAX_JSON_DEPTH)
        );
        assert!(check_json_depth(at_limit.as_bytes()).is_ok());
        let over = format!("[{at_limit}]");
        let error = check_json_depth(over.as_bytes()).unwrap_err();
        assert_eq!(error.field, "body");
        assert!(error.message.contains("at byte 32"), "{}", error.message);
        // Brackets in strings, escaped quotes included, are text.
        let quoted = format!(r#"{{"a": "\"{}"}}"#, "[".repeat(100));
        assert!(check_json_depth(quoted.as_bytes()).is_ok());
    }

    /// The check as a plain byte-by-byte scan: what the strided one must agree with.
    fn depth_error_offset_bytewise(bytes: &[u8]) -> Option<usize> {
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        for (offset, &byte) in bytes.iter().enumerate() {
            if in_string {
                match byte {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => in_string = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > MAX_JSON_DEPTH {
                        return Some(offset);
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        None
    }

    proptest::proptest! {
        #[test]
        fn the_strided_check_agrees_with_a_byte_by_byte_scan(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"[[[[{{]]}\"\"\\\\a ".to_vec()),
                0..300,
            ),
        ) {
            let expected = depth_error_offset_bytewise(&bytes)
                .map(|offset| format!("nested deeper than {MAX_JSON_DEPTH} levels (at byte {offset})"));
            let found = check_json_depth(&bytes).err().map(|error| error.message);
            proptest::prop_assert_eq!(found, expected);
        }
    }

    #[test]
    fn long_label_names_are_shortened_on_a_char_boundary() {
        let name = "é".repeat(100);
        let short = shorten(&name);
        assert!(short.len() <= 64 && name.starts_with(short));
    }
}
