//! Safe messaging (issue #20 item 5): warnings on buyer–seller messages in the way Carousell and Shopee show
//! them. [`assess`] reads one message and says whether to deliver it as is, deliver it with a warning to the
//! buyer, or hold it back, with each finding's place in the text and a plain-English reason the buyer can read.
//!
//! What it looks for: requests to pay off the platform (PayNow to a number or UEN, bank accounts, "pay by
//! transfer", deposits), phone numbers and requests for one, WhatsApp / Telegram / WeChat invitations and links,
//! QR payment links, look-alike domains of the platform's own, other links, requests for OTPs or card details,
//! crypto and gift-card payment, and pressure to pay at once. Evasions are undone first ([`normalise`]):
//! invisible characters, full-width digits, digits spaced out, look-alike letters from other scripts.
//!
//! It is a rule-based detector measured on the labelled corpus in `tests/corpus/messages.tsv` (see the crate
//! README for the figures). It will miss what it has no rule for; a human reviews reports.

mod detect;
mod links;
mod normalise;

use std::ops::Range;

use serde::Serialize;

pub use normalise::{Normalised, normalise};

/// Longest message assessed, in bytes. Anything longer is held back unread: a check that stopped part-way could be
/// defeated by padding.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;
/// Most findings reported for one message (the verdict already reflects the worst).
pub const MAX_FINDINGS: usize = 16;

/// What the platform knows when assessing a message.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The platform's own domains, lower case (`palisade.sg`): links to them or their subdomains are fine, and a
    /// domain that imitates them is blocked.
    pub own_domains: &'a [&'a str],
}

/// What to do with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Deliver as is.
    Ok,
    /// Deliver, with the findings shown to the buyer as a warning.
    Warn,
    /// Hold back; the sender is told why and the buyer sees that a message was withheld.
    Block,
}

/// Why a part of a message was flagged. The code is stable (stored with reports, counted in metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingCode {
    OffPlatformPayment,
    BankAccount,
    PhoneNumber,
    ContactRequest,
    MessagingApp,
    MessagingLink,
    QrPayment,
    LookalikeDomain,
    HiddenLink,
    PaymentLink,
    ExternalLink,
    CredentialRequest,
    CardDetails,
    CryptoOrGiftCard,
    PressureToPay,
    TooLong,
}

impl FindingCode {
    /// Every code, in declaration order.
    pub const ALL: [FindingCode; 16] = [
        FindingCode::OffPlatformPayment,
        FindingCode::BankAccount,
        FindingCode::PhoneNumber,
        FindingCode::ContactRequest,
        FindingCode::MessagingApp,
        FindingCode::MessagingLink,
        FindingCode::QrPayment,
        FindingCode::LookalikeDomain,
        FindingCode::HiddenLink,
        FindingCode::PaymentLink,
        FindingCode::ExternalLink,
        FindingCode::CredentialRequest,
        FindingCode::CardDetails,
        FindingCode::CryptoOrGiftCard,
        FindingCode::PressureToPay,
        FindingCode::TooLong,
    ];

    /// The code [`FindingCode::code`] gives back (codes stored with a message are read back with it).
    pub fn from_code(code: &str) -> Option<FindingCode> {
        Self::ALL.iter().copied().find(|c| c.code() == code)
    }

    /// The stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            FindingCode::OffPlatformPayment => "off_platform_payment",
            FindingCode::BankAccount => "bank_account",
            FindingCode::PhoneNumber => "phone_number",
            FindingCode::ContactRequest => "contact_request",
            FindingCode::MessagingApp => "messaging_app",
            FindingCode::MessagingLink => "messaging_link",
            FindingCode::QrPayment => "qr_payment",
            FindingCode::LookalikeDomain => "lookalike_domain",
            FindingCode::HiddenLink => "hidden_link",
            FindingCode::PaymentLink => "payment_link",
            FindingCode::ExternalLink => "external_link",
            FindingCode::CredentialRequest => "credential_request",
            FindingCode::CardDetails => "card_details",
            FindingCode::CryptoOrGiftCard => "crypto_or_gift_card",
            FindingCode::PressureToPay => "pressure_to_pay",
            FindingCode::TooLong => "too_long",
        }
    }

    /// How serious the finding is on its own.
    pub fn verdict(self) -> Verdict {
        match self {
            FindingCode::PhoneNumber
            | FindingCode::ContactRequest
            | FindingCode::MessagingApp
            | FindingCode::ExternalLink
            | FindingCode::PressureToPay => Verdict::Warn,
            _ => Verdict::Block,
        }
    }

    /// The reason in plain English, for the buyer.
    pub fn reason(self) -> &'static str {
        match self {
            FindingCode::OffPlatformPayment => {
                "This asks you to pay outside Palisade. Payments made outside the checkout are not protected and \
                 cannot be refunded."
            }
            FindingCode::BankAccount => {
                "This contains a bank account for a direct transfer. Pay only through the checkout, where your money \
                 is protected."
            }
            FindingCode::PhoneNumber => {
                "This contains a phone number. Scammers move chats off the platform, where we cannot protect you; \
                 keep the conversation here."
            }
            FindingCode::ContactRequest => {
                "This asks for your phone number. Keep the conversation here, where we can help if something goes \
                 wrong."
            }
            FindingCode::MessagingApp => {
                "This invites you to continue on another messaging app, where we cannot protect you."
            }
            FindingCode::MessagingLink => {
                "This is a link to a chat on another messaging app. Chats there are not protected by Palisade."
            }
            FindingCode::QrPayment => {
                "This asks you to pay by scanning a QR code. Pay only through the checkout; a QR code sends money \
                 straight to a stranger."
            }
            FindingCode::LookalikeDomain => {
                "This link imitates Palisade's address but goes to another site. Never enter your login or card \
                 details there."
            }
            FindingCode::HiddenLink => {
                "This link hides where it goes (a link shortener or disguised letters). Do not open it."
            }
            FindingCode::PaymentLink => {
                "This link asks you to pay, or to claim a payment, outside the checkout. Palisade never sends or \
                 collects payments through links in a chat."
            }
            FindingCode::ExternalLink => {
                "This links to a site outside Palisade. Be careful: never pay or log in through a link in a chat."
            }
            FindingCode::CredentialRequest => {
                "This asks for a one-time password or login code. Never share these: nobody needs them to pay you."
            }
            FindingCode::CardDetails => {
                "This asks for your card details. Never send them in a chat; pay only through the checkout."
            }
            FindingCode::CryptoOrGiftCard => {
                "This asks for payment in cryptocurrency or gift cards, which cannot be traced or refunded."
            }
            FindingCode::PressureToPay => {
                "This pressures you to pay quickly. Scammers rush buyers; take your time and pay through the checkout."
            }
            FindingCode::TooLong => "This message is too long to be checked, so it was not delivered.",
        }
    }
}

/// One flagged part of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub code: FindingCode,
    /// Byte range in the original message (what to highlight).
    pub span: Range<usize>,
}

impl Finding {
    /// The plain-English reason for the buyer.
    pub fn reason(&self) -> &'static str {
        self.code.reason()
    }
}

impl Serialize for Finding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Finding", 4)?;
        st.serialize_field("code", self.code.code())?;
        st.serialize_field("start", &self.span.start)?;
        st.serialize_field("end", &self.span.end)?;
        st.serialize_field("reason", self.code.reason())?;
        st.end()
    }
}

/// The outcome for one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    pub verdict: Verdict,
    /// In the order they occur in the text, at most [`MAX_FINDINGS`].
    pub findings: Vec<Finding>,
}

/// Assesses one message. Deterministic, linear in the message's length (the patterns are regular expressions
/// without backtracking).
pub fn assess(text: &str, context: &Context<'_>) -> Assessment {
    if text.len() > MAX_MESSAGE_BYTES {
        let finding = Finding { code: FindingCode::TooLong, span: 0..0 };
        return Assessment { verdict: Verdict::Block, findings: vec![finding] };
    }
    let n = normalise(text);
    let mut found = detect::findings(&n, text, context);
    found.sort_by_key(|f| (f.span.start, f.code));
    found.dedup_by(|a, b| a.code == b.code && a.span == b.span);
    let verdict = found.iter().map(|f| f.code.verdict()).max().unwrap_or(Verdict::Ok);
    found.truncate(MAX_FINDINGS);
    Assessment { verdict, findings: found }
}

#[cfg(test)]
mod tests;
