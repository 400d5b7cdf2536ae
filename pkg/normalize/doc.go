// Package normalize turns raw customer identifiers, timestamps and amounts into the
// exact forms the TikTok Events API expects: lower-case e-mail addresses, E.164 phone
// numbers, trimmed external ids, Unix seconds, exact decimal money, and SHA-256 hex
// digests of the PII.
//
// Every function works on byte slices and appends to a caller-owned buffer so that the
// per-row path of the worker does not allocate: e-mail, phone, external id, timestamp,
// money and hashing all run with zero allocations on the common inputs (see the
// benchmarks). Errors are *FieldError values that name the field ("email", "phone",
// "external_id", "timestamp", "price", "quantity", "value") and say what was wrong in
// plain words; they never echo the raw value, since that value is usually PII.
//
// # Already hashed values
//
// A value that is already a SHA-256 digest, 64 hex characters in either case
// (IsSHA256Hex), is passed through lower-cased instead of being hashed again
// (AppendDigest). Every hashed field follows this one rule.
//
// # Names and addresses
//
// The advanced matching keys are trimmed and lower-cased: first and last names and
// cities (AppendName, AppendCity), countries as ISO 3166-1 alpha-2 codes checked with
// golang.org/x/text/language (AppendCountry), states as two-letter codes where the
// country has them, the US and Canada, full names mapped to codes (AppendState), and
// postal codes without white space, a US ZIP+4 cut to five digits (AppendZipCode).
//
// # Phone numbers
//
// Phone numbers follow github.com/nyaruka/phonenumbers exactly: the result is what
// Parse(raw, region), IsPossibleNumber and Format(E164) give, and an input is refused
// exactly when Parse fails or the number is not possible. Because phonenumbers costs
// microseconds and dozens of allocations a number, Phone first tries a fast path, a
// single pass over the bytes, that handles the shapes customer exports are made of:
//
//   - '+' followed by digits and the separators space, '-', '.', '(' and ')', for every
//     calling code whose national prefix is a plain digit string (+1, +44, +49, +33,
//     +39, +91 and most others). The possible national-number lengths of each code are
//     read once from phonenumbers itself, by asking IsPossibleNumber.
//   - for the US, Canada and the other NANP regions whose prefixes are plain digit
//     strings, 10-digit numbers (area code 2–9) with the same separators, with or
//     without a leading 1.
//
// Anything else (extensions, letters, "tel:" URIs, international dialling prefixes
// such as 00 or 011, full-width or Arabic-Indic digits, national prefixes to strip,
// other regions' national numbers) goes to phonenumbers unchanged. The fast path
// never refuses what it does not understand; it refuses only numbers that
// phonenumbers would certainly parse and then find of impossible length.
//
// FuzzPhoneDifferential guards this: for every input and several default regions (US,
// CA, JM, KY, GB, DE, FR, IN, BR, AR) it checks that AppendE164 returns byte for byte
// what plain phonenumbers returns and accepts exactly what it accepts, and
// TestPhoneMatchesPhonenumbersEveryCallingCode sweeps every calling code and length.
//
// # Timestamps and money
//
// ParseTimestamp reads the common ISO 8601 shapes and Unix seconds or milliseconds
// (numbers above 1e11) with a hand-written parser, and returns Unix seconds. Decimal
// holds money as an integer count of 10^-Scale units, so 19.99 × 3 is exactly 59.97
// and overflow is an error, never a rounded or wrapped amount.
package normalize
