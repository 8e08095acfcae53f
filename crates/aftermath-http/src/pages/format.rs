//! Small pieces of markup and text shared by the pages: times, durations, outside URLs
//! and query strings.

use aftermath_core::Timestamp;
use maud::{html, Markup};

/// An instant as `<time>`: the canonical RFC 3339 form for machines, a short UTC form
/// for people.
pub(crate) fn timestamp(at: Timestamp) -> Markup {
    let at_utc = at.datetime();
    let shown = format!(
        "{:04}-{:02}-{:02} {}",
        at_utc.year(),
        u8::from(at_utc.month()),
        at_utc.day(),
        at.clock_time()
    );
    html! { time datetime=(at) { (shown) } }
}

/// An optional instant, or a dash.
pub(crate) fn maybe_timestamp(at: Option<Timestamp>) -> Markup {
    match at {
        Some(at) => timestamp(at),
        None => html! { span.none { "—" } },
    }
}

/// Seconds as the post-mortem writes them (`4 min 05 s`).
pub(crate) fn duration(seconds: i64) -> String {
    aftermath_core::duration(seconds)
}

/// Whether `url` may become a link: only `http` and `https`. Anything else
/// (`javascript:`, `data:`, relative paths) from an alert or a responder stays text.
pub(crate) fn is_web_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://"))
        && !url.trim().chars().any(char::is_control)
}

/// `text` linking to `url` when it is a web URL, else `text` followed by the URL as text.
pub(crate) fn outside_link(url: &str, text: &str) -> Markup {
    if is_web_url(url) {
        html! { a.outside href=(url.trim()) rel="noopener noreferrer nofollow" { (text) } }
    } else if text == url {
        html! { span.unlinked-url { (url) } }
    } else {
        html! { (text) " " span.unlinked-url { "(" (url) ")" } }
    }
}

/// Percent-encodes `text` for a URL query value, keeping only unreserved characters and
/// `/` (which is legal in a query and keeps `next=/incidents` readable).
pub(crate) fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// `name=value&…`, each value percent-encoded.
pub(crate) fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(name, value)| format!("{name}={}", percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_become_links() {
        assert!(is_web_url("https://grafana.example/d/1"));
        assert!(is_web_url("HTTP://grafana.example"));
        for not_web in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "/incidents",
            "//evil.example",
            "ftp://files.example",
            "https://x.example/\nnext",
        ] {
            assert!(!is_web_url(not_web), "{not_web:?}");
        }
        let shown = outside_link("javascript:alert(1)", "click").into_string();
        assert!(!shown.contains("href"), "{shown}");
        assert!(shown.contains("javascript:alert(1)"), "{shown}");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            query_string([("next", "/incidents?status=all&x=a b")]),
            "next=/incidents%3Fstatus%3Dall%26x%3Da%20b"
        );
    }
}
