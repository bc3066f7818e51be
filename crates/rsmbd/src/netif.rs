//! Local network interfaces (getifaddrs(3)), for `interfaces = eth0` in the
//! config, and the matching of `interfaces` entries to local addresses.

use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One address of one local interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddr {
    pub name: String,
    pub addr: IpAddr,
}

/// Every IPv4 and IPv6 address of every local interface. An error yields an
/// empty list: the caller then reports that a name matched nothing.
pub fn interfaces() -> Vec<IfAddr> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we own until freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a non-null node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        if let Some(addr) = sockaddr_ip(ifa.ifa_addr) {
            if !ifa.ifa_name.is_null() {
                // SAFETY: ifa_name is a NUL-terminated string owned by the list.
                let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
                    .to_string_lossy()
                    .into_owned();
                out.push(IfAddr { name, addr });
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out
}

fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: non-null sockaddr from getifaddrs; the family says which larger
    // struct it really is, and only that struct is read.
    unsafe {
        match i32::from((*sa).sa_family) {
            libc::AF_INET => {
                let sin = &*(sa as *const libc::sockaddr_in);
                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    sin.sin_addr.s_addr,
                ))))
            }
            libc::AF_INET6 => {
                let sin6 = &*(sa as *const libc::sockaddr_in6);
                Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
            }
            _ => None,
        }
    }
}

/// The local addresses one `interfaces` entry names:
/// an IP address (as is), `IP/prefix` or `IP/netmask` (the local addresses in
/// that network, or the IP itself when it is local), or an interface name,
/// `*` wildcards allowed (its IPv4 addresses).
pub fn resolve(spec: &str, local: &[IfAddr]) -> Result<Vec<IpAddr>, String> {
    if let Ok(ip) = spec.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    if let Some((ip, mask)) = spec.split_once('/') {
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("invalid address {ip:?} in interface {spec:?}"))?;
        let prefix = parse_prefix(mask, &ip)
            .ok_or_else(|| format!("invalid prefix or netmask in interface {spec:?}"))?;
        if local.iter().any(|l| l.addr == ip) {
            return Ok(vec![ip]);
        }
        return Ok(local
            .iter()
            .filter(|l| same_network(&l.addr, &ip, prefix))
            .map(|l| l.addr)
            .collect());
    }
    Ok(local
        .iter()
        .filter(|l| l.addr.is_ipv4() && glob_match(spec, &l.name))
        .map(|l| l.addr)
        .collect())
}

/// `24` or `255.255.255.0` (IPv4 only) to a prefix length.
fn parse_prefix(mask: &str, ip: &IpAddr) -> Option<u32> {
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if let Ok(n) = mask.parse::<u32>() {
        return (n <= max).then_some(n);
    }
    let m: Ipv4Addr = mask.parse().ok()?;
    let bits = u32::from(m);
    // A netmask is ones followed by zeros.
    (bits.leading_ones() + bits.trailing_zeros() == 32 && ip.is_ipv4())
        .then_some(bits.leading_ones())
}

fn same_network(a: &IpAddr, b: &IpAddr, prefix: u32) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX
                .checked_shl(32u32.saturating_sub(prefix))
                .unwrap_or(0);
            u32::from(*a) & mask == u32::from(*b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX
                .checked_shl(128u32.saturating_sub(prefix))
                .unwrap_or(0);
            u128::from(*a) & mask == u128::from(*b) & mask
        }
        _ => false,
    }
}

/// Shell-style match with `*` (any run) and `?` (one character).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi = pi.saturating_add(1);
            }
            Some(c) if *c == '?' || Some(c) == t.get(ti) => {
                pi = pi.saturating_add(1);
                ti = ti.saturating_add(1);
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp.saturating_add(1);
                    ti = st.saturating_add(1);
                    star = Some((sp, ti));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn local() -> Vec<IfAddr> {
        let v = |name: &str, a: &str| IfAddr {
            name: name.into(),
            addr: a.parse().unwrap(),
        };
        vec![
            v("lo", "127.0.0.1"),
            v("lo", "::1"),
            v("eth0", "192.168.1.10"),
            v("eth0", "fe80::1"),
            v("eth1", "10.0.0.5"),
            v("wlan0", "192.168.7.3"),
        ]
    }

    #[test]
    fn addresses_pass_through() {
        assert_eq!(
            resolve("127.0.0.1", &local()).unwrap(),
            vec!["127.0.0.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            resolve("::1", &[]).unwrap(),
            vec!["::1".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn names_and_wildcards_give_ipv4_addresses() {
        let eth0: Vec<IpAddr> = vec!["192.168.1.10".parse().unwrap()];
        assert_eq!(resolve("eth0", &local()).unwrap(), eth0);
        assert_eq!(resolve("eth*", &local()).unwrap().len(), 2);
        assert!(resolve("eth9", &local()).unwrap().is_empty());
    }

    #[test]
    fn networks_match_local_addresses() {
        let r = resolve("192.168.0.0/16", &local()).unwrap();
        assert_eq!(r.len(), 2);
        let r = resolve("10.0.0.0/255.0.0.0", &local()).unwrap();
        assert_eq!(r, vec!["10.0.0.5".parse::<IpAddr>().unwrap()]);
        let r = resolve("192.168.1.10/24", &local()).unwrap();
        assert_eq!(r, vec!["192.168.1.10".parse::<IpAddr>().unwrap()]);
        assert!(resolve("10.0.0.0/33", &local()).is_err());
        assert!(resolve("10.0.0.0/255.0.255.0", &local()).is_err());
        assert!(resolve("nonsense/8", &local()).is_err());
    }

    #[test]
    fn glob() {
        assert!(glob_match("eth*", "eth0"));
        assert!(glob_match("*", ""));
        assert!(glob_match("e?h0", "eth0"));
        assert!(glob_match("*0", "wlan0"));
        assert!(!glob_match("eth*", "wlan0"));
        assert!(!glob_match("eth", "eth0"));
    }

    #[test]
    fn real_interfaces_include_loopback() {
        let all = interfaces();
        assert!(all
            .iter()
            .any(|i| i.addr == IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
}
