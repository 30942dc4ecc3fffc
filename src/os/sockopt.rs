//! Pony's stable socket-option numbers (`data/sockopt_numbers.tsv`) mapped
//! to this platform's constants. The tables are generated at build time by
//! `build/sockopt.rs` from the platform's own headers; a number the
//! platform does not define is absent from them.

include!(concat!(env!("OUT_DIR"), "/sockopt_table.rs"));

/// The platform's value of the option *level* numbered `n` (`IPPROTO_*`,
/// `SOL_*`...); `None` if this platform has none, or `n` is not a level number.
pub fn level(n: i32) -> Option<i32> {
    lookup(LEVELS, n)
}

/// The platform's value of the *option* numbered `n` (`SO_*`, `TCP_*`,
/// `IP_*`...); `None` if this platform has none, or `n` is not an option number.
pub fn option(n: i32) -> Option<i32> {
    lookup(OPTIONS, n)
}

fn lookup(table: &[(i32, i32)], n: i32) -> Option<i32> {
    table.binary_search_by_key(&n, |&(number, _)| number).ok().map(|i| table[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Pony number of `name`, from the numbering itself.
    fn number(name: &str) -> i32 {
        include_str!("../../data/sockopt_numbers.tsv")
            .lines()
            .find_map(|l| {
                let mut f = l.split('\t');
                let n = f.next()?;
                (f.next()? == name).then(|| n.parse().expect("number"))
            })
            .unwrap_or_else(|| panic!("{name} is numbered"))
    }

    #[test]
    fn tables_are_sorted_and_apart() {
        for t in [LEVELS, OPTIONS] {
            assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
        }
        assert!(LEVELS.iter().all(|&(n, _)| OPTIONS.binary_search_by_key(&n, |e| e.0).is_err()));
    }

    #[test]
    fn well_known_values() {
        assert_eq!(level(number("IPPROTO_TCP")), Some(libc::IPPROTO_TCP));
        assert_eq!(level(number("IPPROTO_IPV6")), Some(libc::IPPROTO_IPV6));
        assert_eq!(level(number("SOL_SOCKET")), Some(libc::SOL_SOCKET));
        assert_eq!(option(number("SO_REUSEADDR")), Some(libc::SO_REUSEADDR));
        assert_eq!(option(number("SO_REUSEPORT")), Some(libc::SO_REUSEPORT));
        assert_eq!(option(number("TCP_NODELAY")), Some(libc::TCP_NODELAY));
        assert_eq!(option(number("IPV6_ADD_MEMBERSHIP")), Some(libc::IPV6_ADD_MEMBERSHIP));
        assert_eq!(option(number("IP_MULTICAST_TTL")), Some(libc::IP_MULTICAST_TTL));
    }

    #[test]
    fn wrong_kind_and_out_of_range() {
        assert_eq!(option(number("IPPROTO_TCP")), None);
        assert_eq!(level(number("SO_REUSEADDR")), None);
        for n in [-1, i32::MIN, i32::MAX, 1_000_000] {
            assert_eq!((level(n), option(n)), (None, None));
        }
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn enum_only_constants_are_found() {
        // glibc declares these as enum members without a #define.
        assert_eq!(level(number("IPPROTO_MAX")), Some(libc::IPPROTO_MAX));
        assert_eq!(option(number("IPPORT_USERRESERVED")), Some(5000));
    }
}
