//! Country of a client address, from a MaxMind-format database the operator provides (`--geoip-db`, e.g.
//! GeoLite2-Country.mmdb). Without one, country rules are unavailable and say so; nothing is looked up remotely.

use std::net::IpAddr;
use std::path::Path;

use maxminddb::{PathElement, Reader};

/// The loaded database, if any.
#[derive(Default)]
pub struct GeoIp(Option<Reader<Vec<u8>>>);

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("GeoIp").field(&self.0.is_some()).finish()
    }
}

impl GeoIp {
    /// Opens an mmdb file.
    pub fn open(path: &Path) -> Result<GeoIp, String> {
        Reader::open_readfile(path).map(|r| GeoIp(Some(r))).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Whether country lookups work on this node.
    #[must_use]
    pub fn available(&self) -> bool {
        self.0.is_some()
    }

    /// The ISO 3166 code of the address's country, if known.
    #[must_use]
    pub fn country(&self, ip: IpAddr) -> Option<String> {
        let reader = self.0.as_ref()?;
        // A dual-stack listener reports IPv4 clients as `::ffff:a.b.c.d`; not every database aliases those.
        let found = reader.lookup(ip.to_canonical()).ok()?;
        found.decode_path::<String>(&[PathElement::Key("country"), PathElement::Key("iso_code")]).ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn countries_come_from_the_database_and_unknown_addresses_have_none() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/geoip-test.mmdb");
        let geoip = GeoIp::open(&fixture).unwrap();
        assert!(geoip.available());
        assert_eq!(geoip.country("203.0.113.9".parse().unwrap()).as_deref(), Some("NZ"));
        assert_eq!(geoip.country("198.51.100.200".parse().unwrap()).as_deref(), Some("SG"));
        assert_eq!(geoip.country("::ffff:203.0.113.9".parse().unwrap()).as_deref(), Some("NZ"));
        assert_eq!(geoip.country("192.0.2.1".parse().unwrap()), None);
        assert!(!GeoIp::default().available());
        assert!(GeoIp::open(Path::new("/nonexistent.mmdb")).unwrap_err().contains("nonexistent"));
    }
}
