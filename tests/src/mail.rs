//! Reading the mail a server wrote to its mailbox folder (the transport used when no SMTP relay
//! is configured), decoded as a mail client would.

use std::path::Path;

use mail_parser::MessageParser;

use crate::server::TestServer;

/// The decoded text of the newest mail to `to` in `server`'s mailbox folder, if any.
pub async fn latest_mail_to(server: &TestServer, to: &str) -> Option<String> {
    let dir = server.state.config.data_dir.join("mailbox");
    mails_to(&dir, to).pop()
}

/// Every mail to `to` in `dir`, oldest first, as decoded text.
pub fn mails_to(dir: &Path, to: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    // File names start with the time the mail was queued.
    files.sort();
    files
        .iter()
        .filter_map(|path| std::fs::read(path).ok())
        .filter_map(|raw| {
            let message = MessageParser::default().parse(&raw)?;
            let addressed = message
                .to()
                .and_then(|list| list.first())
                .and_then(|addr| addr.address())
                .is_some_and(|addr| addr.eq_ignore_ascii_case(to));
            if !addressed {
                return None;
            }
            message.body_text(0).map(|text| text.into_owned())
        })
        .collect()
}
