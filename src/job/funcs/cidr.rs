//! `hashicorp/go-cty-funcs/cidr` (after `apparentlymart/go-cidr`): cidrhost,
//! cidrnetmask, cidrsubnet, cidrsubnets. Addresses are worked on as integers of 32 or
//! 128 bits; an IPv4-mapped IPv6 prefix counts as IPv4, as Go's `net` treats it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Args;
use crate::job::hcl::value::Value;

#[derive(Clone, Copy)]
struct Net {
    addr: u128,
    prefix: u32,
    bits: u32,
}

impl Net {
    fn parse(s: &str) -> Result<Net, String> {
        let err = || format!("invalid CIDR expression: invalid CIDR address: {s}");
        let (ip, len) = s.split_once('/').ok_or_else(err)?;
        let len: u32 = len.parse().map_err(|_| err())?;
        let ip: IpAddr = ip.parse().map_err(|_| err())?;
        let net = match ip {
            IpAddr::V4(v4) if len <= 32 => Net {
                addr: u128::from(u32::from(v4)),
                prefix: len,
                bits: 32,
            },
            IpAddr::V6(v6) if len <= 128 => match v6.to_ipv4_mapped() {
                Some(v4) if len >= 96 => Net {
                    addr: u128::from(u32::from(v4)),
                    prefix: len - 96,
                    bits: 32,
                },
                _ => Net {
                    addr: u128::from(v6),
                    prefix: len,
                    bits: 128,
                },
            },
            _ => return Err(err()),
        };
        Ok(net.masked())
    }

    fn mask(&self) -> u128 {
        let all = if self.bits == 128 {
            u128::MAX
        } else {
            (1u128 << self.bits) - 1
        };
        if self.prefix == 0 {
            0
        } else {
            all & !(all >> self.prefix)
        }
    }

    fn masked(self) -> Net {
        Net {
            addr: self.addr & self.mask(),
            ..self
        }
    }

    fn host_bits(&self) -> u32 {
        self.bits - self.prefix
    }

    fn last(&self) -> u128 {
        let host = self.host_bits();
        let span = if host >= 128 {
            u128::MAX
        } else {
            (1u128 << host) - 1
        };
        self.addr | span
    }

    fn ip(&self, a: u128) -> String {
        if self.bits == 32 {
            Ipv4Addr::from(a as u32).to_string()
        } else {
            Ipv6Addr::from(a).to_string()
        }
    }

    fn text(&self) -> String {
        format!("{}/{}", self.ip(self.addr), self.prefix)
    }

    /// go-cidr `Subnet`.
    fn subnet(&self, newbits: i64, num: i64) -> Result<Net, String> {
        let newbits = u32::try_from(newbits)
            .map_err(|_| "must extend prefix by at least one bit".to_string())?;
        let prefix = self.prefix + newbits;
        if prefix > self.bits {
            return Err(format!(
                "insufficient address space to extend prefix of {} by {newbits}",
                self.prefix
            ));
        }
        let max: i128 = 1i128 << newbits.min(126);
        if num < 0 || i128::from(num) >= max {
            return Err(format!(
                "prefix extension of {newbits} does not accommodate a subnet numbered {num}"
            ));
        }
        let shift = self.bits - prefix;
        Ok(Net {
            addr: self.addr | ((num as u128) << shift),
            prefix,
            bits: self.bits,
        })
    }
}

pub(super) fn call(name: &str, a: Args<'_>) -> Result<Value, String> {
    match name {
        "cidrhost" => {
            a.count(2, 2)?;
            let net = Net::parse(&a.string(0, "prefix")?)?;
            let num = a.int(1, "hostnum")?;
            let host = net.host_bits();
            let span: i128 = 1i128 << host.min(126);
            let n = i128::from(num);
            if n >= span || n < -span {
                return Err(format!(
                    "prefix of {} does not accommodate a host numbered {num}",
                    net.prefix
                ));
            }
            let off = if n < 0 { span + n } else { n } as u128;
            Ok(Value::String(net.ip(net.addr | off)))
        }
        "cidrnetmask" => {
            a.count(1, 1)?;
            let net = Net::parse(&a.string(0, "prefix")?)?;
            Ok(Value::String(net.ip(net.mask())))
        }
        "cidrsubnet" => {
            a.count(3, 3)?;
            let net = Net::parse(&a.string(0, "prefix")?)?;
            let (newbits, num) = (a.int(1, "newbits")?, a.int(2, "netnum")?);
            net.subnet(newbits, num).map(|n| Value::String(n.text()))
        }
        "cidrsubnets" => {
            let net = Net::parse(&a.string(0, "prefix")?)?;
            if a.v.len() < 2 {
                return Ok(Value::List(Vec::new()));
            }
            let mut out = Vec::new();
            let mut current: Option<Net> = None;
            for i in 1..a.v.len() {
                let newbits = a.int(i, "newbits")?;
                if newbits < 1 {
                    return Err(format!(
                        "Invalid value for \"newbits\" parameter: argument {}: must extend prefix by at least one bit",
                        i
                    ));
                }
                if newbits > 32 {
                    return Err(format!(
                        "Invalid value for \"newbits\" parameter: argument {i}: may not extend prefix by more than 32 bits"
                    ));
                }
                let length = net.prefix as i64 + newbits;
                if length > i64::from(net.bits) {
                    return Err(format!(
                        "Invalid value for \"newbits\" parameter: argument {i}: would extend prefix to {length} bits, which is too long for an IPv{} address",
                        if net.bits == 32 { 4 } else { 6 }
                    ));
                }
                let next = match current {
                    None => net.subnet(newbits, 0)?,
                    Some(cur) => {
                        // go-cidr NextSubnet: the block of the new size holding the
                        // current one's last address, then the one after it.
                        let sized = Net {
                            addr: cur.last(),
                            prefix: length as u32,
                            bits: net.bits,
                        }
                        .masked();
                        let (after, overflow) = sized.last().overflowing_add(1);
                        let wrapped = overflow || (net.bits == 32 && after > u128::from(u32::MAX));
                        let n = Net {
                            addr: after,
                            prefix: length as u32,
                            bits: net.bits,
                        }
                        .masked();
                        if wrapped || n.addr & net.mask() != net.addr {
                            return Err(format!(
                                "Invalid value for \"newbits\" parameter: argument {i}: not enough remaining address space for a subnet with a prefix of {length} bits after {}",
                                cur.text()
                            ));
                        }
                        n
                    }
                };
                out.push(Value::String(next.text()));
                current = Some(next);
            }
            Ok(Value::List(out))
        }
        _ => unreachable!("dispatched by name"),
    }
}

#[cfg(test)]
mod tests {
    use crate::job::funcs::testutil::{check, fails};

    /// `hashicorp/go-cty-funcs:cidr/*_test.go`.
    #[test]
    fn cidrhost() {
        check("cidrhost(\"192.168.1.0/24\", 5)", "\"192.168.1.5\"");
        check("cidrhost(\"192.168.1.0/24\", -5)", "\"192.168.1.251\"");
        check("cidrhost(\"192.168.1.0/24\", -256)", "\"192.168.1.0\"");
        fails(
            "cidrhost(\"192.168.1.0/30\", 255)",
            "does not accommodate a host numbered 255",
        );
        fails("cidrhost(\"192.168.1.0/30\", -255)", "does not accommodate");
        fails("cidrhost(\"not-a-cidr\", 6)", "invalid CIDR expression");
        fails("cidrhost(\"10.256.0.0/8\", 6)", "invalid CIDR expression");
    }

    #[test]
    fn cidrnetmask() {
        check("cidrnetmask(\"192.168.1.0/24\")", "\"255.255.255.0\"");
        check("cidrnetmask(\"192.168.1.0/32\")", "\"255.255.255.255\"");
        check("cidrnetmask(\"0.0.0.0/0\")", "\"0.0.0.0\"");
        check("cidrnetmask(\"1::/64\")", "\"ffff:ffff:ffff:ffff::\"");
        fails("cidrnetmask(\"not-a-cidr\")", "invalid CIDR");
        fails("cidrnetmask(\"110.256.0.0/8\")", "invalid CIDR");
    }

    #[test]
    fn cidrsubnet() {
        check("cidrsubnet(\"192.168.2.0/20\", 4, 6)", "\"192.168.6.0/24\"");
        check("cidrsubnet(\"fe80::/48\", 16, 6)", "\"fe80:0:0:6::/64\"");
        check(
            "cidrsubnet(\"::ffff:192.168.0.0/112\", 8, 6)",
            "\"192.168.6.0/24\"",
        );
        fails(
            "cidrsubnet(\"192.168.0.0/30\", 4, 6)",
            "insufficient address space",
        );
        fails("cidrsubnet(\"192.168.0.0/168\", 2, 16)", "invalid CIDR");
        fails("cidrsubnet(\"not-a-cidr\", 4, 6)", "invalid CIDR");
        fails("cidrsubnet(\"10.256.0.0/8\", 4, 6)", "invalid CIDR");
    }

    #[test]
    fn cidrsubnets() {
        check(
            "cidrsubnets(\"10.0.0.0/21\", 3, 3, 3, 4, 4, 4, 7, 7, 7)",
            "[\"10.0.0.0/24\", \"10.0.1.0/24\", \"10.0.2.0/24\", \"10.0.3.0/25\", \"10.0.3.128/25\", \"10.0.4.0/25\", \"10.0.4.128/28\", \"10.0.4.144/28\", \"10.0.4.160/28\"]",
        );
        fails("cidrsubnets(\"10.0.0.0/30\", 1, 3)", "too long");
        fails(
            "cidrsubnets(\"10.0.0.0/8\", 1, 1, 1)",
            "not enough remaining address space",
        );
        fails("cidrsubnets(\"10.0.0.0/8\", 1, 0)", "at least one bit");
        fails("cidrsubnets(\"10.0.0.0/8\", 1, -1)", "at least one bit");
        fails("cidrsubnets(\"fe80::/48\", 1, 33)", "more than 32 bits");
    }
}
