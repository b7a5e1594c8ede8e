//! Target `ident_reply`: the reply grammar from both ends. The same bytes are read
//! as a reply line (what a querier, or the suite, parses) and as the text of
//! `/etc/passwd` (where the server finds the user name it sends).
//!
//! Properties:
//!
//! * A reply line that parses prints back to a line that parses to the same reply;
//!   printed, it is one line.
//! * The name `user_name` finds for a uid comes from an entry of that uid, and a
//!   reply carrying it is one CRLF-ended line that a querier reads back as the same
//!   user: the server never sends a name that a client would read as another (or
//!   that would end the reply line early).

use shared::ident::reply::is_user_id;
use shared::ident::{user_name, PortPair, Reply};

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    reply_line(text);
    passwd(text);
}

/// A reply line as a querier reads it.
fn reply_line(line: &str) {
    if let Ok(reply) = line.parse::<Reply>() {
        if let Reply::UserId { user, .. } = &reply {
            assert!(is_user_id(user), "{line:?} parsed to user {user:?}");
        }
        assert_wire(&reply);
    }
}

/// The reply as sent: one line, CRLF at its end and nowhere else, which parses back
/// to `reply` once the CRLF is taken off.
pub fn assert_wire(reply: &Reply) {
    let wire = reply.to_wire();
    let line = wire
        .strip_suffix("\r\n")
        .unwrap_or_else(|| panic!("{wire:?} does not end with CRLF"));
    assert!(
        !line.contains(['\r', '\n']),
        "{wire:?} is more than one line"
    );
    assert_eq!(
        line.parse::<Reply>().as_ref(),
        Ok(reply),
        "{wire:?} does not read back"
    );
}

/// `/etc/passwd` text: uid 0 and the first uids it names are looked up (a few: each
/// lookup reads the whole text, and all of them would make a long input slow to
/// check, not more telling).
fn passwd(text: &str) {
    let mut uids = vec![0];
    for uid in text
        .lines()
        .filter_map(|entry| entry.split(':').nth(2)?.parse::<u32>().ok())
    {
        if uids.len() == 8 {
            break;
        }
        if !uids.contains(&uid) {
            uids.push(uid);
        }
    }
    for uid in uids {
        let Some(name) = user_name(text, uid) else {
            continue;
        };
        let entry_of_uid = text.lines().any(|entry| {
            let mut f = entry.split(':');
            f.next() == Some(name) && f.nth(1).and_then(|id| id.parse().ok()) == Some(uid)
        });
        assert!(
            entry_of_uid,
            "{name:?} is not the name of an entry of uid {uid}"
        );
        assert_wire(&Reply::UserId {
            ports: PortPair {
                server: 6193,
                client: 23,
            },
            user: name.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vector_holds() {
        check(shared::vectors::ident::PASSWD.as_bytes());
        for line in [
            "6193, 23 : USERID : UNIX : alice",
            "0, 0 : ERROR : INVALID-PORT",
        ] {
            check(line.as_bytes());
        }
    }
}
