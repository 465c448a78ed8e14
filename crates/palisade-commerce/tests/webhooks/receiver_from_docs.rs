//! Real deliveries checked by `receiver.py`, a receiver written only from the README's "Webhooks" section.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use super::*;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webhooks/receiver.py");

/// The receiver's verdict on one captured request at `now` (unix seconds).
fn python_verdict(secret: &str, header: &str, body: &[u8], now: i64) -> String {
    let mut child = Command::new("python3")
        .args([SCRIPT, "verify", &now.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the documented receiver");
    let case = serde_json::json!({"secret": secret, "header": header, "body_hex": hex::encode(body)});
    child.stdin.take().unwrap().write_all(case.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The documented receiver as a server: it answers 204 only to a request it verified.
struct PythonReceiver {
    child: std::process::Child,
    port: u16,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl PythonReceiver {
    fn start(secrets: &serde_json::Value) -> PythonReceiver {
        let mut child = Command::new("python3")
            .args([SCRIPT, "serve"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the documented receiver");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("{secrets}\n").as_bytes()).unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines.next().unwrap().unwrap().trim().parse().unwrap();
        PythonReceiver { child, port, lines }
    }

    fn verdict(&mut self) -> serde_json::Value {
        serde_json::from_str(&self.lines.next().unwrap().unwrap()).unwrap()
    }
}

impl Drop for PythonReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_receiver_written_from_the_docs_accepts_real_deliveries() {
    // The system clock: the receiver checks the signature's time against its own.
    let t = TestDb::new().await;
    let a = crate::store(&t.db, "hooks-docs").await;
    let ext = app();
    let topics = [WebhookTopic::OrderPaid, WebhookTopic::ProductUpdated];

    // Subscribe first (the secrets are shown once), then start the receiver with them and point the rows at it.
    let hooks = AppWebhooks {
        extension: &ext,
        url: "http://127.0.0.1:9/",
        topics: &topics,
        granted: &[Scope::Orders, Scope::Products],
    };
    let subs = subscriptions::subscribe(&t.db, &a, hooks, &WebhookKeys::new(&KEY), &loopback()).await.unwrap();
    let secrets: serde_json::Map<String, serde_json::Value> =
        subs.iter().map(|s| (s.id.to_string(), s.secret.expose_secret().into())).collect();
    let mut receiver = PythonReceiver::start(&serde_json::Value::Object(secrets));
    sqlx::query("UPDATE webhook_subscriptions SET url = $1")
        .bind(format!("http://127.0.0.1:{}/hooks", receiver.port))
        .execute(t.db.pool())
        .await
        .unwrap();
    for topic in topics {
        deliveries::emit(&t.db, a.scope(), topic, &paid()).await.unwrap();
    }
    let keys = WebhookKeys::new(&KEY);
    let policy = loopback();
    let run = deliveries::deliver_due(&t.db, &PlatformScope::system("test"), &sender(&keys, &policy)).await.unwrap();
    assert_eq!(run.delivered, 2, "the documented receiver accepted both: {run:?}");
    let mut verdicts = [receiver.verdict(), receiver.verdict()];
    verdicts.sort_by_key(|v| v["topic"].as_str().unwrap_or_default().to_owned());
    assert_eq!(verdicts[0]["verdict"], "ok");
    assert_eq!(verdicts[0]["topic"], "order.paid");
    assert_eq!(verdicts[1]["topic"], "product.updated");
    for d in deliveries::list(&t.db, a.scope(), 10).await.unwrap() {
        assert_eq!((d.status, d.last_status_code), (DeliveryStatus::Delivered, Some(204)));
    }
}

#[tokio::test]
async fn the_documented_receiver_refuses_old_altered_and_foreign_deliveries() {
    let (t, _clock) = TestDb::manual().await;
    let a = crate::store(&t.db, "hooks-docs-2").await;
    let rx = Receiver::start(200).await;
    let subs =
        subscribe(&t.db, &a, &rx.url(), &[WebhookTopic::OrderPaid, WebhookTopic::OrderCreated], &[Scope::Orders])
            .await
            .unwrap();
    deliveries::emit(&t.db, a.scope(), WebhookTopic::OrderPaid, &paid()).await.unwrap();
    let keys = WebhookKeys::new(&KEY);
    let policy = loopback();
    deliveries::deliver_due(&t.db, &PlatformScope::system("test"), &sender(&keys, &policy)).await.unwrap();
    let seen = rx.last();
    let own = subs.iter().find(|s| s.id.to_string() == seen.header("palisade-subscription")).unwrap();
    let other = subs.iter().find(|s| s.id != own.id).unwrap();
    let (secret, header) = (own.secret.expose_secret(), seen.header("palisade-signature"));
    let t_sent: i64 = header.split(',').next().unwrap().trim_start_matches("t=").parse().unwrap();
    assert_eq!(t_sent, t.db.now().0 / 1000, "signed with the injected clock's time");
    assert_eq!(python_verdict(secret, &header, &seen.body, t_sent), "ok");
    assert_eq!(python_verdict(secret, &header, &seen.body, t_sent + 300), "ok");
    assert_eq!(python_verdict(secret, &header, &seen.body, t_sent + 301), "outside window", "a replay later");
    assert_eq!(python_verdict(secret, &header, &seen.body, t_sent - 301), "outside window");
    let mut altered = seen.body.clone();
    altered.extend_from_slice(b" ");
    assert_eq!(python_verdict(secret, &header, &altered, t_sent), "bad signature");
    assert_eq!(python_verdict(other.secret.expose_secret(), &header, &seen.body, t_sent), "bad signature");
    let moved = header.replacen(&format!("t={t_sent}"), &format!("t={}", t_sent + 1), 1);
    assert_eq!(python_verdict(secret, &moved, &seen.body, t_sent), "bad signature");
    // The platform's own verifier agrees with the documented one.
    assert!(signature::verify(&own.secret, &header, &seen.body, t_sent + 301).is_err());
    assert!(signature::verify(&own.secret, &header, &altered, t_sent).is_err());
}
