//! The zones an instance answers for, as lowercase fully qualified names ("example.org.",
//! or "." for every name).

/// The zones a record must fall in, as lowercase FQDNs ("example.org.", or "." for all).
#[derive(Debug, Clone, Default)]
pub struct Zones(Vec<String>);

impl Zones {
    /// Normalizes each zone (lowercase, trailing dot). An empty list means "." (everything).
    pub fn new<S: AsRef<str>>(zones: &[S]) -> Zones {
        let mut out: Vec<String> = zones
            .iter()
            .map(|z| {
                let mut z = z.as_ref().trim().to_ascii_lowercase();
                if !z.ends_with('.') {
                    z.push('.');
                }
                z
            })
            .collect();
        if out.is_empty() {
            out.push(".".to_string());
        }
        Zones(out)
    }

    /// The longest zone that contains `name` (a lowercase FQDN), as CoreDNS's `Zones.Matches`.
    pub fn matches(&self, name: &[u8]) -> Option<&str> {
        self.0
            .iter()
            .filter(|z| in_zone(name, z.as_bytes()))
            .max_by_key(|z| z.len())
            .map(String::as_str)
    }

    pub fn contains(&self, name: &[u8]) -> bool {
        self.0.iter().any(|z| in_zone(name, z.as_bytes()))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

fn in_zone(name: &[u8], zone: &[u8]) -> bool {
    if zone == b"." {
        return true;
    }
    name.len() >= zone.len()
        && name[name.len() - zone.len()..] == *zone
        && (name.len() == zone.len() || name[name.len() - zone.len() - 1] == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_zone_matches() {
        let zones = Zones::new(&["example.org"]);
        assert_eq!(zones.matches(b"x.a.example.org."), Some("example.org."));
        let nested = Zones::new(&["org.", "example.org."]);
        assert_eq!(nested.matches(b"x.example.org."), Some("example.org."));
        assert_eq!(nested.matches(b"x.com."), None);
    }
}
