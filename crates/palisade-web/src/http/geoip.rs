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
        let found = reader.lookup(ip).ok()?;
        found.decode_path::<String>(&[PathElement::Key("country"), PathElement::Key("iso_code")]).ok().flatten()
    }
}
