//! Slack's text escaping. `&`, `<` and `>` are the only characters Slack parses as markup
//! (`<!channel>`, `<@U…>`, `<url|label>`), so [`escape`] keeps text from pinging anyone or
//! faking a link. Text users typed gets [`user_text`], which also keeps it from drawing:
//! mrkdwn's formatting characters, line breaks and bare links.

/// Escapes `&`, `<` and `>`: for text whose formatting is ours.
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

/// Text a user typed, made safe to show in mrkdwn wherever it appears:
///
/// - `&`, `<`, `>` are escaped, as by [`escape`];
/// - line breaks and tabs become spaces, so an order cannot draw lines of its own (a fake
///   "• <@U2>: …" under the real ones);
/// - `*`, `_`, `~` and `` ` `` become look-alikes that mrkdwn does not parse (mrkdwn has
///   no escape character), so nothing turns bold, italic, struck or code;
/// - `://` and a dot between letters or digits become look-alikes, so Slack links no URL
///   or domain ("evil.example") the user typed.
pub fn user_text(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let before = i.checked_sub(1).map(|j| chars[j]);
        let after = chars.get(i + 1).copied();
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' if after == Some('\n') => {}
            '\n' | '\r' | '\t' => out.push(' '),
            '*' => out.push('\u{2217}'), // ∗ asterisk operator
            '_' => out.push('\u{02CD}'), // ˍ modifier letter low macron
            '~' => out.push('\u{223C}'), // ∼ tilde operator
            '`' => out.push('\u{02CB}'), // ˋ modifier letter grave accent
            '/' if before == Some(':') || before == Some('/') && i >= 2 && chars[i - 2] == ':' => {
                out.push('\u{2215}') // ∕ division slash
            }
            '.' if before.is_some_and(char::is_alphanumeric)
                && after.is_some_and(char::is_alphanumeric) =>
            {
                out.push('\u{2024}') // ․ one dot leader
            }
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
    fn user_text_cannot_draw_format_or_link() {
        assert_eq!(user_text("oat milk, extra shot"), "oat milk, extra shot");
        assert_eq!(
            user_text("<!channel> & <https://evil.example|click>"),
            "&lt;!channel&gt; &amp; &lt;https:\u{2215}\u{2215}evil\u{2024}example|click&gt;"
        );
        assert_eq!(
            user_text("oat\n• <@U2>: Large Mocha\r\nx\ty"),
            "oat • &lt;@U2&gt;: Large Mocha x y"
        );
        let formatted = user_text("*bold* _it_ ~no~ `code`");
        assert!(!formatted.contains(['*', '_', '~', '`']), "{formatted}");
        assert_eq!(user_text("visit evil.example"), "visit evil\u{2024}example");
        // Sentences keep their full stops and spaces.
        assert_eq!(user_text("No sugar. Thanks."), "No sugar. Thanks.");
    }

    #[test]
    fn mentions_wrap_the_id() {
        assert_eq!(mention("U123"), "<@U123>");
        assert_eq!(mention("U1><!here"), "<@U1&gt;&lt;!here>");
    }
}
