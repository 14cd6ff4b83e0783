// Package config owns petrel's configuration: the Java-properties reader,
// the broker settings read from a RocketMQ broker.conf (Broker) and the name
// server settings (Namesrv).
//
// Files use RocketMQ's own key names so a RocketMQ user's broker.conf works
// unchanged. Each struct is described by one table of keys (name, aliases,
// typed binding to a field, description); the loader, the flag override Set,
// Validate, the rendering of the effective configuration (Properties, String)
// and the documentation (Keys, NamesrvKeys, MarkdownTable) are all driven by
// that table, so a key cannot be honoured without being documented.
//
// # File format
//
// A configuration file is read the way java.util.Properties.load reads it:
//
//	# comment                  '#' or '!' as the first non-blank character
//	key=value                  '=' or ':' or blanks separate key and value;
//	key = value                blanks around the separator are dropped;
//	key value                  blanks before the value are dropped,
//	key:value                  blanks after it are kept by the reader
//	long.value = first \       an odd number of trailing backslashes
//	             second        continues the logical line; the next line's
//	                           leading blanks are dropped
//	my\ key = a\tb\u00e9       escapes: \t \n \r \f \\ \uXXXX, and a
//	                           backslash before any other character is
//	                           that character (so \= \: \  \# in keys)
//
// Blanks are space, tab and form feed; lines end with LF, CR or CR LF.
// Differences from Java, on purpose: the input is UTF-8 (Java's
// load(InputStream) reads ISO-8859-1, which garbles non-ASCII text), a
// leading UTF-8 byte-order mark is skipped, and a malformed \uXXXX escape is
// an error with its line number.
//
// # Values
//
// Before a value is converted to its key's type, surrounding white space is
// trimmed (RocketMQ does not trim, so there "true " silently means false and
// "10911 " is silently ignored). Then:
//
//   - integers follow Java's Integer/Long.parseInt: ASCII decimal digits with
//     an optional leading + or -; anything else, or a number outside the
//     key's range, is refused;
//   - booleans are "true" or "false" in any letter case; anything else is
//     refused (Java's Boolean.parseBoolean would silently read it as false);
//   - durations are whole numbers in the key's RocketMQ unit (milliseconds,
//     seconds or hours, named in each key's description) and held as
//     time.Duration;
//   - enumerations (flushDiskType, brokerRole) must match exactly, as with
//     Java's Enum.valueOf.
//
// Where RocketMQ silently clamps a value (diskMaxUsedSpaceRatio to 10..95,
// diskSpaceWarningLevelRatio to 35..90, diskSpaceCleanForciblyRatio to
// 30..85, registerNameServerPeriod to 10000..60000 ms) petrel clamps the
// same way and reports a warning; a value that is not a sensible number at
// all (a percentage outside 0..100, a negative period) is refused.
//
// Unknown keys never fail a load: they come back as Warnings for the caller
// to log. Invalid values fail with a *ValueError naming the file, line, key,
// bad value and what was expected, e.g.
//
//	broker.conf:7: flushDiskType: "SYNCFLUSH" is not one of ASYNC_FLUSH, SYNC_FLUSH
package config
