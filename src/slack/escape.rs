//! Slack's text escaping: `&`, `<` and `>` are the only characters Slack parses as markup,
//! so escaping them keeps user text from pinging `<!channel>` or faking a link.

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// `<@U123>`: Slack renders it as the user's name. Ids are Slack's own (`[A-Z0-9]`), but a
/// forged one still cannot break out of the mention.
pub fn mention(user_id: &str) -> String {
    format!("<@{}>", escape(user_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            escape("<!channel> & <@U1>"),
            "&lt;!channel&gt; &amp; &lt;@U1&gt;"
        );
        assert_eq!(escape("oat milk"), "oat milk");
    }

    #[test]
    fn mentions_wrap_the_id() {
        assert_eq!(mention("U123"), "<@U123>");
        assert_eq!(mention("U1><!here"), "<@U1&gt;&lt;!here>");
    }
}
