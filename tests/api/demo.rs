//! `coffeebuddy demo` plays a whole coffee run and prints it as Slack would show it.

use std::process::Command;

#[test]
fn the_demo_plays_a_whole_run() {
    let output = Command::new(env!("CARGO_BIN_EXE_coffeebuddy"))
        .arg("demo")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "error")
        // The demo migrates the fresh database it makes whatever the environment says.
        .env("MIGRATE_ON_START", "false")
        .output()
        .expect("the demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // The thread reply and the runner's DM go out as separate jobs, in either order.
    let assigned = stdout
        .find("CoffeeBuddy picks a runner")
        .expect("the assignment step");
    for either in [
        "@ana is getting the coffee!",
        "You're the runner for the coffee run in #coffee",
        "[Mark complete]",
    ] {
        assert!(
            stdout[assigned..].contains(either),
            "{either:?} missing in:\n{stdout}"
        );
    }
    let expected_in_order = [
        "ana types /coffee",
        "Slack shows the order form",
        "Your order is in: Large Latte (oat milk)",
        "Your order is in: Medium Mocha (extra <hot> & sweet)",
        "CoffeeBuddy picks a runner",
        "the runner is reminded",
        "Reminder: You're the runner for coffee run",
        "ana clicks Mark complete",
    ];
    let mut from = 0;
    for expected in expected_in_order {
        let at = stdout[from..]
            .find(expected)
            .unwrap_or_else(|| panic!("{expected:?} missing (after byte {from}) in:\n{stdout}"));
        from += at;
    }
    // The thread reply, the root message's redraw and the DMs' are separate jobs too.
    for either in [
        "Coffee run completed by @ana! ☕ Coffee's here: @ana @ben @cho",
        "— completed by @ana (3 orders)",
        "DM to @ana (the message is redrawn in place)",
        "✅ Coffee run in #coffee completed. Thanks for the run!",
    ] {
        assert!(
            stdout[from..].contains(either),
            "{either:?} missing after Mark complete in:\n{stdout}"
        );
    }
    // The survey: its buttons on the completion reply, and ben's answer acknowledged.
    for expected in [
        "[👍 Good run] [👎 Not great]",
        "ben answers the post-run survey",
        "#coffee (only @ben sees this)",
        "Thanks! Your answer is recorded",
    ] {
        assert!(
            stdout[from..].contains(expected),
            "{expected:?} missing in:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("nothing more from CoffeeBuddy"),
        "{stdout}"
    );
}
