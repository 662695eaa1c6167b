//! The voice catalog, its format and its rejections.

use super::*;
use crate::lang::{check_language_tag, LanguageTagError};

const EXAMPLES: [&str; 5] = [
    "en-US-Neural2-A",
    "cmn-CN-Wavenet-A",
    "yue-HK-Standard-A",
    "en-US-Chirp3-HD-Kore",
    "fil-PH-Standard-A",
];

#[test]
fn builtin_parses_and_is_large() {
    assert_eq!(
        VoiceCatalog::parse(BUILTIN_CATALOG).map(|c| c.len()),
        Ok(VoiceCatalog::builtin().len())
    );
    assert!(VoiceCatalog::builtin().len() > 1000);
    assert!(!VoiceCatalog::builtin().is_empty());
}

#[test]
fn builtin_contains_the_examples() {
    let catalog = VoiceCatalog::builtin();
    for name in EXAMPLES {
        assert!(catalog.contains(name), "{name}");
        assert_eq!(catalog.check(name), Ok(()), "{name}");
    }
    for name in ["en-US-Chirp-HD-D", "en-US-Polyglot-1", "en-US-Casual-K"] {
        assert!(catalog.contains(name), "{name}");
    }
}

#[test]
fn builtin_covers_the_required_locales() {
    let locales = VoiceCatalog::builtin().locales();
    for locale in [
        "af-ZA", "ar-XA", "bg-BG", "bn-IN", "ca-ES", "cmn-CN", "cmn-TW", "cs-CZ", "da-DK", "de-DE",
        "el-GR", "en-AU", "en-GB", "en-IN", "en-US", "es-ES", "es-US", "et-EE", "eu-ES", "fi-FI",
        "fil-PH", "fr-CA", "fr-FR", "gl-ES", "gu-IN", "he-IL", "hi-IN", "hu-HU", "id-ID", "is-IS",
        "it-IT", "ja-JP", "kn-IN", "ko-KR", "lt-LT", "lv-LV", "ml-IN", "mr-IN", "ms-MY", "nb-NO",
        "nl-BE", "nl-NL", "pa-IN", "pl-PL", "pt-BR", "pt-PT", "ro-RO", "ru-RU", "sk-SK", "sr-RS",
        "sv-SE", "ta-IN", "te-IN", "th-TH", "tr-TR", "uk-UA", "ur-IN", "vi-VN", "yue-HK",
    ] {
        assert!(locales.contains(locale), "{locale}");
    }
}

#[test]
fn builtin_rejects_unknown_names() {
    let catalog = VoiceCatalog::builtin();
    for name in [
        "en-US-Neural2-Z",
        "en-us-neural2-a",
        "",
        "xx-XX-Standard-A",
        "en-US-Neural2-a",
        "en-US-Neural2",
        "en-US-Neural2-A ",
        " en-US-Neural2-A",
        "en-US-Chirp3-HD-kore",
    ] {
        assert!(!catalog.contains(name), "{name:?}");
        assert!(catalog.check(name).is_err(), "{name:?}");
    }
}

#[test]
fn every_name_has_a_valid_tts_lang_code() {
    for name in VoiceCatalog::builtin().iter() {
        let code = tts_lang_code(name);
        assert!(code.is_some(), "{name}");
        let code = code.unwrap_or_default();
        assert_eq!(check_language_tag(code), Ok(()), "{name}");
    }
}

#[test]
fn iter_is_sorted_and_complete() {
    let catalog = VoiceCatalog::builtin();
    let names: Vec<&str> = catalog.iter().collect();
    assert_eq!(names.len(), catalog.len());
    assert!(names.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn tts_lang_code_takes_the_first_two_segments() {
    assert_eq!(tts_lang_code("en-US-Neural2-A"), Some("en-US"));
    assert_eq!(tts_lang_code("cmn-CN-Wavenet-A"), Some("cmn-CN"));
    assert_eq!(tts_lang_code("yue-HK-Standard-A"), Some("yue-HK"));
    assert_eq!(tts_lang_code("en-US-Chirp3-HD-Kore"), Some("en-US"));
    assert_eq!(tts_lang_code("fil-PH-Standard-A"), Some("fil-PH"));
    assert_eq!(tts_lang_code("a-b-"), Some("a-b"));
    for name in [
        "",
        "en",
        "en-US",
        "-US-Neural2-A",
        "en--Neural2-A",
        "--",
        "---",
    ] {
        assert_eq!(tts_lang_code(name), None, "{name:?}");
    }
    assert_eq!(tts_lang_code("\u{e9}-\u{e9}-x"), Some("\u{e9}-\u{e9}"));
}

#[test]
fn parse_expands_the_format() {
    let text = "\
# a comment

en-US Neural2 A,C-E,1 # trailing comment
  de-DE\tChirp3-HD  @chirp3
en-US Neural2 A
xx-YY Custom-Family-2 Kore,Z-Z
";
    let catalog = VoiceCatalog::parse(text).unwrap();
    let names: Vec<&str> = catalog.iter().collect();
    assert_eq!(names.len(), 5 + 30 + 2);
    for name in [
        "en-US-Neural2-A",
        "en-US-Neural2-C",
        "en-US-Neural2-D",
        "en-US-Neural2-E",
        "en-US-Neural2-1",
        "de-DE-Chirp3-HD-Achernar",
        "de-DE-Chirp3-HD-Zubenelgenubi",
        "xx-YY-Custom-Family-2-Kore",
        "xx-YY-Custom-Family-2-Z",
    ] {
        assert!(catalog.contains(name), "{name}");
    }
    assert!(!catalog.contains("en-US-Neural2-B"));
    assert!(VoiceCatalog::parse("").unwrap().is_empty());
    assert!(VoiceCatalog::parse("# only\n\n   \n").unwrap().is_empty());
}

#[test]
fn parse_errors_name_the_line() {
    let cases = [
        ("en-US Neural2", "line 1:", "three fields"),
        ("\n\nen-US Neural2 A B", "line 3:", "three fields"),
        ("# ok\nen_US Neural2 A", "line 2:", "bad locale"),
        ("en Neural2 A", "line 1:", "exactly two subtags"),
        ("cmn-Hans-CN Neural2 A", "line 1:", "exactly two subtags"),
        ("en-US 2Neural A", "line 1:", "family"),
        ("en-US Neural2- A", "line 1:", "family"),
        ("en-US Neural2 A,,B", "line 1:", "empty item"),
        ("en-US Neural2 A,", "line 1:", "empty item"),
        ("en-US Neural2 J-A", "line 1:", "backwards"),
        ("en-US Neural2 a-j", "line 1:", "two uppercase letters"),
        ("en-US Neural2 A-", "line 1:", "two uppercase letters"),
        ("en-US Neural2 @chirp4", "line 1:", "not a letter range"),
        (
            "x\nen-US Standard A\nen-US Neural2 \u{c4}",
            "line 1:",
            "three fields",
        ),
        (
            "en-US Standard A\nen-US Neural2 \u{c4}",
            "line 2:",
            "not a letter range",
        ),
    ];
    for (text, line, reason) in cases {
        let err = VoiceCatalog::parse(text).unwrap_err().to_string();
        assert!(err.contains(line), "{text:?}: {err}");
        assert!(err.contains(reason), "{text:?}: {err}");
    }
}

#[test]
fn rejections_suggest_what_to_use() {
    let catalog = VoiceCatalog::builtin();
    let check = |name: &str| catalog.check(name).unwrap_err().to_string();

    let err = check("");
    assert!(err.contains("empty") && err.contains(EXAMPLE), "{err}");

    let err = check("en-us-neural2-a");
    assert!(
        err.contains("case-sensitive") && err.contains("`en-US-Neural2-A`"),
        "{err}"
    );

    let err = check("en-US-Neural2-Z");
    assert!(err.contains("A, C, D, E"), "{err}");
    assert!(!err.contains("A, B"), "{err}");

    let err = check("en-US-Chirp3-HD-Nova");
    assert!(err.contains("Kore") && err.contains("Zephyr"), "{err}");

    let err = check("en-US-Chirp-HD-A");
    assert!(err.contains("Chirp-HD") && err.contains("D, F, O"), "{err}");

    let err = check("en-US-Neural2");
    assert!(err.contains("missing") && err.contains("A, C"), "{err}");

    let err = check("en-US-Journey-D");
    assert!(
        err.contains("Standard") && err.contains("Chirp3-HD"),
        "{err}"
    );
    assert!(err.contains("en-US-Casual-K"), "{err}");

    let err = check("xx-XX-Standard-A");
    assert!(
        err.contains("no voices for locale") && err.contains("en-US"),
        "{err}"
    );

    let err = check("en-NZ-Standard-A");
    assert!(err.contains("en-AU, en-GB, en-IN, en-US"), "{err}");
    assert!(!err.contains("de-DE"), "{err}");

    let err = check("Kore");
    assert!(err.contains("<locale>-<family>-<variant>"), "{err}");
}

#[test]
fn rejections_of_huge_names_are_bounded() {
    let huge = format!("en-US-{}", "x".repeat(100_000));
    let err = VoiceCatalog::builtin()
        .check(&huge)
        .unwrap_err()
        .to_string();
    assert!(err.len() < 1000, "{}", err.len());
    let huge_locale = format!("{}-US-Standard-A", "x".repeat(100_000));
    let err = VoiceCatalog::builtin()
        .check(&huge_locale)
        .unwrap_err()
        .to_string();
    assert!(err.len() < 2000, "{}", err.len());
}

#[test]
fn an_empty_catalog_rejects_everything() {
    let empty = VoiceCatalog::default();
    assert!(empty.is_empty());
    let err = empty.check("en-US-Neural2-A").unwrap_err();
    assert!(
        matches!(&err, VoiceError::EmptyCatalog { name } if name == "en-US-Neural2-A"),
        "{err:?}"
    );
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn rejections_are_typed() {
    let catalog = VoiceCatalog::builtin();
    assert_eq!(catalog.check(""), Err(VoiceError::Empty));
    assert_eq!(
        catalog.check("en-us-neural2-a"),
        Err(VoiceError::WrongCase {
            name: "en-us-neural2-a".into(),
            meant: "en-US-Neural2-A".into(),
        })
    );
    assert!(matches!(
        catalog.check("Kore"),
        Err(VoiceError::Malformed { name }) if name == "Kore"
    ));
    assert!(matches!(
        catalog.check("en-NZ-Standard-A"),
        Err(VoiceError::UnknownLocale { locale, locales, same_language: true, .. })
            if locale == "en-NZ" && locales.iter().any(|l| l == "en-GB")
    ));
    assert!(matches!(
        catalog.check("xx-XX-Standard-A"),
        Err(VoiceError::UnknownLocale {
            same_language: false,
            ..
        })
    ));
    assert!(matches!(
        catalog.check("en-US-Journey-D"),
        Err(VoiceError::UnknownFamily { families, .. })
            if families.iter().any(|f| f == "Chirp3-HD")
    ));
    assert!(matches!(
        catalog.check("en-US-Neural2"),
        Err(VoiceError::UnknownVariant { family, missing: true, .. }) if family == "Neural2"
    ));
    assert!(matches!(
        catalog.check("en-US-Chirp3-HD-Nova"),
        Err(VoiceError::UnknownVariant { family, missing: false, .. })
            if family == "Chirp3-HD"
    ));
}

#[test]
fn rejection_messages_are_exact() {
    let catalog = VoiceCatalog::parse("en-US Neural2 A,C\nen-GB Standard B\n").unwrap();
    let message = |name: &str| catalog.check(name).unwrap_err().to_string();
    assert_eq!(
        message(""),
        "voice name is empty; expected a Google Cloud Text-to-Speech voice name such as \
         `en-US-Neural2-A`"
    );
    assert_eq!(
        message("en-us-neural2-c"),
        "unknown voice \"en-us-neural2-c\": voice names are case-sensitive; did you mean \
         `en-US-Neural2-C`?"
    );
    assert_eq!(
        message("Kore"),
        "voice name \"Kore\" is not of the form <locale>-<family>-<variant>, such as \
         `en-US-Neural2-A`"
    );
    assert_eq!(
        message("en-AU-Standard-A"),
        "unknown voice \"en-AU-Standard-A\": the voice catalog has no voices for locale \
         \"en-AU\"; for that language it has en-GB, en-US"
    );
    assert_eq!(
        message("fr-FR-Standard-A"),
        "unknown voice \"fr-FR-Standard-A\": the voice catalog has no voices for locale \
         \"fr-FR\"; it covers en-GB, en-US"
    );
    assert_eq!(
        message("en-US-Journey-D"),
        "unknown voice \"en-US-Journey-D\": en-US has no such voice family; its families \
         are Neural2 (for example `en-US-Neural2-A`)"
    );
    assert_eq!(
        message("en-US-Neural2"),
        "unknown voice \"en-US-Neural2\": the variant is missing; en-US Neural2 voices \
         have the variants A, C (as in `en-US-Neural2-A`)"
    );
    assert_eq!(
        message("en-US-Neural2-B"),
        "unknown voice \"en-US-Neural2-B\": en-US Neural2 voices have the variants A, C \
         (as in `en-US-Neural2-A`)"
    );
    assert_eq!(
        VoiceCatalog::default()
            .check("en-US-Neural2-A")
            .unwrap_err()
            .to_string(),
        "unknown voice \"en-US-Neural2-A\": the voice catalog is empty"
    );
    assert_eq!(
        VoiceError::refused("the voice service is unreachable").to_string(),
        "the voice service is unreachable"
    );
}

#[test]
fn parse_errors_are_typed() {
    let err = VoiceCatalog::parse("en-US Neural2 A\n\nen-US Neural2 J-A  ").unwrap_err();
    assert_eq!(err.line_number(), 3);
    assert_eq!(err.line(), "en-US Neural2 J-A  ");
    assert!(matches!(
        err.defect(),
        CatalogDefect::BackwardsRange { range } if range == "J-A"
    ));
    assert_eq!(
        err.to_string(),
        "voice catalog line 3: range \"J-A\" runs backwards; write it as `A-J` \
         (line: \"en-US Neural2 J-A\")"
    );
    let defect = |text: &str| VoiceCatalog::parse(text).unwrap_err().defect().clone();
    assert_eq!(
        defect("en-US Neural2"),
        CatalogDefect::FieldCount { found: 2 }
    );
    assert!(matches!(
        defect("en_US Neural2 A"),
        CatalogDefect::BadLocale(LanguageTagError::ForbiddenChar { found: '_', .. })
    ));
    assert!(matches!(
        defect("cmn-Hans-CN Neural2 A"),
        CatalogDefect::LocaleSubtags { .. }
    ));
    assert!(matches!(
        defect("en-US 2Neural A"),
        CatalogDefect::BadFamily { .. }
    ));
    assert_eq!(defect("en-US Neural2 A,"), CatalogDefect::EmptyItem);
    assert!(matches!(
        defect("en-US Neural2 a-j"),
        CatalogDefect::BadRange { .. }
    ));
    assert!(matches!(
        defect("en-US Neural2 @chirp4"),
        CatalogDefect::BadVariant { item } if item == "@chirp4"
    ));
}

#[test]
fn a_bad_locale_is_the_source_of_a_catalog_error() {
    let err: Box<dyn std::error::Error> =
        Box::new(VoiceCatalog::parse("# ok\nen_US Neural2 A").unwrap_err());
    assert_eq!(
        err.to_string(),
        "voice catalog line 2: bad locale: language tag \"en_US\" contains '_'; separate \
         subtags with `-`, not `_` (`en-US`, not `en_US`) (line: \"en_US Neural2 A\")"
    );
    let source = err.source().expect("a source");
    assert_eq!(
        source.downcast_ref::<LanguageTagError>(),
        check_language_tag("en_US").err().as_ref()
    );
    let no_source = VoiceCatalog::parse("en-US Neural2 A,,B").unwrap_err();
    assert!(std::error::Error::source(&no_source).is_none());
}

#[test]
fn validators_compose() {
    let boxed: Box<dyn VoiceValidator> = Box::new(VoiceCatalog::builtin());
    assert_eq!(boxed.check("en-US-Neural2-A"), Ok(()));
    let shared: Arc<dyn VoiceValidator> = Arc::new(VoiceCatalog::builtin().clone());
    assert!(shared.check("en-US-Neural2-Z").is_err());
    assert_eq!(
        format!("{:?}", VoiceCatalog::default()),
        "VoiceCatalog { len: 0, .. }"
    );
}
