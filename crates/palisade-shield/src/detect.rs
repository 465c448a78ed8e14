//! The detectors. Each finding names a rule (`family.name`), its CRS-style severity and the paranoia level from
//! which it applies. Everything here is linear-time: aho-corasick for word lists, the `regex` crate (finite
//! automata, no backtracking) for shapes, and a libinjection port for SQL and XSS tokenising.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::RegexSet;
use serde::Serialize;

use crate::normalise::Normalised;
use crate::request::{Field, Location};

/// Attack families, named after the OWASP CRS rule files they correspond to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// 911 / 920 / 921: method, protocol and request-smuggling anomalies, CRLF injection.
    Protocol,
    /// 913
    Scanner,
    /// 930
    Lfi,
    /// 931
    Rfi,
    /// 932
    Rce,
    /// 933
    Php,
    /// 934 (+ SSTI, prototype pollution)
    Generic,
    /// 941
    Xss,
    /// 942
    Sqli,
    /// 943
    Session,
    /// 944
    Java,
    /// SSRF-shaped URLs in parameters
    Ssrf,
    /// NoSQL operator injection
    Nosql,
}

impl Family {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Protocol => "protocol",
            Family::Scanner => "scanner",
            Family::Lfi => "lfi",
            Family::Rfi => "rfi",
            Family::Rce => "rce",
            Family::Php => "php",
            Family::Generic => "generic",
            Family::Xss => "xss",
            Family::Sqli => "sqli",
            Family::Session => "session",
            Family::Java => "java",
            Family::Ssrf => "ssrf",
            Family::Nosql => "nosql",
        }
    }
}

/// CRS anomaly scores.
pub const CRITICAL: u32 = 5;
pub const ERROR: u32 = 4;
pub const WARNING: u32 = 3;
pub const NOTICE: u32 = 2;

/// One thing a detector found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub family: Family,
    pub score: u32,
    pub paranoia: u8,
    pub location: Location,
    pub field: String,
    /// At most 80 characters of the decoded value around the match, for the event log.
    pub excerpt: String,
}

/// SQL-injection and XSS detection behind a trait, so the tokenizer can be swapped or hardened.
pub trait InjectionEngine: Send + Sync {
    fn is_sqli(&self, value: &str) -> bool;
    fn is_xss(&self, value: &str) -> bool;
}

/// The libinjection port. A panic inside it (a defect on odd input) counts as a detection, never a crash.
#[derive(Debug, Default)]
pub struct Libinjection;

impl InjectionEngine for Libinjection {
    fn is_sqli(&self, value: &str) -> bool {
        std::panic::catch_unwind(|| libinjectionrs::detect_sqli(value.as_bytes()).is_injection()).unwrap_or(true)
    }

    fn is_xss(&self, value: &str) -> bool {
        std::panic::catch_unwind(|| libinjectionrs::detect_xss(value.as_bytes()).is_injection()).unwrap_or(true)
    }
}

struct Rule {
    id: &'static str,
    family: Family,
    score: u32,
    paranoia: u8,
    pattern: &'static str,
}

const fn rule(id: &'static str, family: Family, score: u32, paranoia: u8, pattern: &'static str) -> Rule {
    Rule { id, family, score, paranoia, pattern }
}

/// Shape rules, matched against the folded (lower-case) value.
const RULES: &[Rule] = &[
    // 930 traversal and local files
    rule("lfi.traversal", Family::Lfi, CRITICAL, 1, r"(?:^|[\\/])\.\.(?:[\\/]|$)"),
    rule("lfi.traversal-encoded", Family::Lfi, CRITICAL, 1, r"(?:%(?:c0%ae|e0%80%ae|c0%2e|2e%c0)|\.%(?:c0|e0)%)"),
    // 931 remote file inclusion
    rule("rfi.ip-url", Family::Rfi, CRITICAL, 1, r"^(?:file|ftps?|https?)://\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"),
    rule("rfi.trailing-question", Family::Rfi, CRITICAL, 1, r"^(?:ftps?|https?)://[^?]*\?+$"),
    rule(
        "rfi.include",
        Family::Rfi,
        CRITICAL,
        1,
        r"(?:include|require)(?:_once)?\s*\(?\s*['\x22]?(?:ftps?|https?|php|data|expect)://",
    ),
    rule("rfi.off-domain-url", Family::Rfi, WARNING, 2, r"^(?:ftps?|https?)://"),
    // 932 command injection
    // A command after a shell separator. Words that are also English (`more`, `cat`, `time` …) count only when
    // shell syntax follows them, so "Tea & more" and "great; more please" pass; a bare word at the start of a value
    // is a shopper searching for `cat food`.
    rule(
        "rce.unix-command",
        Family::Rce,
        CRITICAL,
        1,
        r"(?:[;&|`\n]|\$\(|\|\||&&)\s*(?:/(?:usr/)?s?bin/)?(?:ls|ll|whoami|uname|wget|curl|nc|ncat|netcat|bash|sh|zsh|ksh|python[23]?|perl|ruby|php|lua|chmod|chown|chattr|rm|nslookup|telnet|socat|busybox|tftp|base64|printenv|ifconfig|netstat|pkill|killall|crontab|useradd|usermod|passwd|sudo|nohup|xterm|vim?|awk|gawk|sed|grep|egrep|xargs|gzip|systemctl|apt|apt-get|aptitude|yum|dnf|pip[23]?|npm|ssh|scp|rsync|gcc|docker|kubectl|mysql|psql|sqlite3|openssl|xxd|ansible(?:-[a-z]+)?|cscli|traceroute|iptables|nmap|hostname|chpasswd|visudo|lsof|strace|gdb|ps|env|printf|powershell|certutil)(?:\s|$|[;&|<>`)])",
    ),
    rule(
        "rce.unix-command-word",
        Family::Rce,
        CRITICAL,
        1,
        r"(?:(?:[;|`\n]|\$\(|\|\||&&)\s*(?:/(?:usr/)?s?bin/)?(?:cat|id|dash|ping|dig|more|less|head|tail|find|sort|cut|fold|time|at|w|who|host|file|top|last|kill|make|source|history|export|alias|cd|mv|cp|ln|touch|echo|sleep|mount|dd|su|service|shutdown|reboot|tar|zip|unzip|eval|exec|date|java|node|git|nano|tee|wc|uniq|stat|strings|finger|uptime|whois|ip|ss|timeout|mkdir|od|sort|route|arp|last)(?:\s+[-/$~.'\x22\\]|\s*[|;&><`)]|\s*$)|&\s*(?:/(?:usr/)?s?bin/)?(?:cat|id|dash|ping|dig|more|less|head|tail|find|sort|cut|fold|time|at|w|who|host|file|top|last|kill|make|source|history|export|alias|cd|mv|cp|ln|touch|echo|sleep|mount|dd|su|service|shutdown|reboot|tar|zip|unzip|eval|exec|date|java|node|git|nano|tee|wc|uniq|stat|strings|finger|uptime|whois|ip|ss|timeout|mkdir|od|sort|route|arp|last)(?:\s+[-/$~.'\x22\\]|\s*[|;&><`)]))",
    ),
    rule(
        "rce.leading-command",
        Family::Rce,
        CRITICAL,
        1,
        r"^\s*(?:sh|bash|zsh|dash|nohup|sudo|busybox|env|curl|wget|nc|ncat|python[23]?|perl|php|ruby|node|powershell|cmd|ansible(?:-[a-z]+)?)\s+-{1,2}[a-z]",
    ),
    rule(
        "rce.windows-batch",
        Family::Rce,
        CRITICAL,
        1,
        r"\bfor\s+/[fdlr]\b|\bfor\s+%%?[~a-z]+\s+in\s*\(|\bif\s+(?:not\s+)?(?:exist|errorlevel|defined|/i)\b|%errorlevel%|\bgoto\s+:?[a-z_]+|\binvoke-(?:webrequest|expression|command)\b|\biex\s*\(|\bstart-process\b|\bnew-object\s+net\.webclient",
    ),
    rule(
        "rce.glob",
        Family::Rce,
        CRITICAL,
        1,
        r"(?:/[a-z0-9.\-]*[?*\[][a-z0-9?*\[\].\-]*){2,}|/\?{2,}/|\{\s*,?\s*[a-z/]+\s*,[^}]*\}",
    ),
    rule(
        "rce.substitution",
        Family::Rce,
        CRITICAL,
        1,
        r"\$\(\s*[a-z/]+[^)]*\)|`\s*[a-z/]+[^`]*`|\$\{ifs\}|\$\(\(|[<>]\(\s*[a-z/]|\$\{?(?:shell|ifs|bash_version|histfile)\b",
    ),
    rule(
        "rce.windows-if",
        Family::Rce,
        CRITICAL,
        1,
        r"\bif\s+(?:not\s+)?(?:\S+\s+(?:equ|neq|lss|leq|gtr|geq)\s|['\x22][^'\x22]*['\x22]\s*==|%[^%\s]+%)|\bfor\s+%%?[~a-z0-9\[]+\s+in\s*\(",
    ),
    rule(
        "rce.leading-tool",
        Family::Rce,
        CRITICAL,
        2,
        r"^\s*(?:time|strace|ltrace|nohup|nice|timeout|flock|perf|ll|ls|find|ksh|sh|bash|zsh|pip[23]?|npm|gem|composer|apt(?:-get)?|yum|dnf|chmod|chown|sudo|su|kill|pkill|crontab|systemctl|service|mount|dd|nc|ncat|socat|ssh|scp|curl|wget)\s+(?:[-/~$]|[a-z]+\s+-)|\b(?:ansible-[a-z]+|chef-[a-z]+|cscli|visudo|lastlog|rmt-tar|aa-disable|aa-exec)\b|^\s*(?:!!|!-?\d+|~[+-]?\d*)\s*$",
    ),
    rule("rce.shellshock", Family::Rce, CRITICAL, 1, r"\(\s*\)\s*\{"),
    rule(
        "rce.shell-paths",
        Family::Rce,
        CRITICAL,
        1,
        r"/bin/(?:ba|z|k|da)?sh\b|/dev/tcp/|/usr/bin/(?:env|python|perl)",
    ),
    // 933 PHP
    rule("php.open-tag", Family::Php, CRITICAL, 1, r"<\?\s*(?:php\b|=)|\[/?php\]"),
    rule(
        "php.wrapper",
        Family::Php,
        CRITICAL,
        1,
        r"(?:php|phar|zip|data|expect|glob|zlib|compress\.zlib|compress\.bzip2|rar|ogg|ssh2\.(?:shell|exec|tunnel|sftp|scp))://",
    ),
    rule(
        "php.function",
        Family::Php,
        CRITICAL,
        1,
        r"\b(?:system|exec|passthru|shell_exec|popen|proc_open|pcntl_exec|eval|assert|create_function|call_user_func(?:_array)?|base64_decode|gzinflate|str_rot13|file_get_contents|file_put_contents|fopen|readfile|unserialize|preg_replace|phpinfo)\s*\(",
    ),
    rule(
        "php.superglobal",
        Family::Php,
        CRITICAL,
        1,
        r"\$_(?:get|post|cookie|server|request|files|env|session)\b|\$globals\b",
    ),
    rule(
        "php.config",
        Family::Php,
        CRITICAL,
        1,
        r"\b(?:allow_url_include|allow_url_fopen|auto_prepend_file|auto_append_file|disable_functions|disable_classes|open_basedir|safe_mode|unserialize_max_depth|include_path|register_globals|magic_quotes_gpc|upload_tmp_dir|session\.save_path|expose_php|error_log|extension_dir)\b|\bextension\s*=",
    ),
    rule(
        "php.variable-function",
        Family::Php,
        CRITICAL,
        1,
        r"\$+(?:\{[^}]*\}|[a-z_][a-z0-9_]*)(?:\[[^\]]*\])*\s*\(|->\s*\$[a-z_]|\(\s*['\x22][a-z_]+['\x22]\s*\)\s*\(",
    ),
    rule(
        "php.function-wide",
        Family::Php,
        CRITICAL,
        2,
        r"\b(?:print_r|var_dump|var_export|zlib_decode|gzuncompress|gzdecode|gzinflate|crypt|symlink|filegroup|fileowner|unlink|rmdir|highlight_file|show_source|parse_ini_file|phpversion|getenv|putenv|ini_set|ini_get|ini_restore|dl|array_map|array_filter|usort|uasort|extract|parse_str|intval|strrev|date_add|mb_ereg_replace|sodium_[a-z0-9_]+|posix_[a-z_]+|apache_[a-z_]+|stream_socket_client|fsockopen|curl_exec|escapeshellcmd|escapeshellarg)\s*\(",
    ),
    rule("php.serialized", Family::Php, CRITICAL, 1, r#"\b[oc]:\d+:"[a-z0-9_\\]+":\d+:\{"#),
    // 934 generic: template injection, Node.js, prototype pollution
    rule(
        "generic.ssti-braces",
        Family::Generic,
        CRITICAL,
        1,
        r"\{\{[^}]*(?:[*+/%()\[\]|.]|_{2}|self|config|request|range|cycler|lipsum|joiner|namespace)[^}]*\}\}",
    ),
    rule(
        "generic.ssti-dollar",
        Family::Generic,
        CRITICAL,
        1,
        r"\$\{[^}]*(?:[*+/()\[\].]|\bt\()[^}]*\}|#\{[^}]*[*+/().][^}]*\}",
    ),
    rule("generic.ssti-erb", Family::Generic, CRITICAL, 1, r"<%=?[^%]*%>"),
    rule(
        "generic.ssti-block",
        Family::Generic,
        CRITICAL,
        1,
        r"\{%\s*(?:import|include|set|for|if|exec|debug|load|extends)\b",
    ),
    rule(
        "generic.node",
        Family::Generic,
        CRITICAL,
        1,
        r"require\s*\(\s*['\x22`](?:child_process|fs|net|vm|os)['\x22`]|process\.(?:mainmodule|binding|env)|global\.process|\bconstructor\s*\(\s*['\x22]return",
    ),
    rule(
        "generic.node-more",
        Family::Generic,
        CRITICAL,
        1,
        r"\bconsole\s*\.\s*(?:log|info|warn|error|debug|dir|trace)\s*[.(]|\bthis\s*\.\s*constructor\b|\bprocess\s*\[|\brequire\s*\[|__js_function|_\$\$nd_func\$\$_|\bprocess\s*\.\s*spawn\b|\bchild_process\b|\bwhile\s*\(\s*(?:!|\(|true\b|1\s*\))",
    ),
    rule("generic.ssti-perl", Family::Generic, CRITICAL, 1, r"@\{\s*\[|\bqx\s*\{"),
    rule(
        "generic.prototype",
        Family::Generic,
        CRITICAL,
        1,
        r"__proto__|constructor\s*\[\s*['\x22]?prototype|constructor\.prototype",
    ),
    // 941 XSS shapes libinjection may not see once decoded
    rule("xss.script-tag", Family::Xss, CRITICAL, 1, r"<\s*/?\s*script\b"),
    rule("xss.js-uri", Family::Xss, CRITICAL, 1, r"(?:java|vb|live)script\s*:|data\s*:\s*text/html"),
    rule(
        "xss.event-handler",
        Family::Xss,
        CRITICAL,
        1,
        r"<[a-z][^>]*\bon[a-z]{3,}\s*=|\bon(?:error|load|click|mouseover|focus|blur|submit|toggle|begin|animationstart|pointerover)\s*=",
    ),
    rule(
        "xss.dangerous-tag",
        Family::Xss,
        CRITICAL,
        1,
        r"<\s*(?:iframe|object|embed|applet|meta|base|svg|math|form|link|style|frameset|img|video|audio|body|details|marquee|isindex)\b",
    ),
    rule(
        "xss.attribute-handler",
        Family::Xss,
        CRITICAL,
        1,
        r"[\s\x22'`;/0-9=,(]on[a-z]{3,40}\s*=[^=]|\b(?:formaction|srcdoc|xlink:href)\s*=",
    ),
    rule(
        "xss.more-tags",
        Family::Xss,
        CRITICAL,
        1,
        r"<\s*(?:noscript|[a-z]*:?\s*vmlframe|[a-z]+\s*:\s*script|importimplementation|xss|dialog|template|keygen|bgsound|layer|ilayer|xml|portal)\b|\+ad[w4]-",
    ),
    rule(
        "xss.js-obfuscation",
        Family::Xss,
        CRITICAL,
        1,
        r"!!?\s*\[\s*\]|\b(?:self|window|top|parent|globalthis|frames|document)\s*\)?\s*\[\s*['\x22`]|\)\s*\[\s*['\x22`](?:cookie|alert|eval|constructor)\b|\.(?:call|apply)\s*`",
    ),
    rule(
        "xss.dom-blacklist",
        Family::Xss,
        CRITICAL,
        1,
        r"\bdocument\s*\.\s*(?:cookie|write|domain)\b|\bwindow\s*\.\s*location\b|\.\s*(?:parentnode|innerhtml|outerhtml)\b|<!\[cdata\[",
    ),
    rule(
        "xss.dom-wide",
        Family::Xss,
        CRITICAL,
        2,
        r"-->|<!--|\bdocument\s*\.\s*(?:body|queryselector(?:all)?|createelement|getelementby[a-z]+|location)\b|\b(?:setinterval|settimeout)\s*\(|\bdata\s*:\s*[a-z/+-]*\s*[,;]",
    ),
    rule("xss.css-expression", Family::Xss, CRITICAL, 1, r"expression\s*\(|-moz-binding|@import\b|behavior\s*:"),
    rule(
        "xss.dom-sinks",
        Family::Xss,
        CRITICAL,
        2,
        r"\b(?:document\.(?:cookie|write|domain|location)|window\.location|\.innerhtml|alert\s*\(|prompt\s*\(|confirm\s*\(|fromcharcode|string\.fromcharcode|eval\s*\()",
    ),
    // 942 SQL shapes (libinjection is the main detector)
    rule("sqli.union-select", Family::Sqli, CRITICAL, 1, r"\bunion\b(?:\s|all|distinct|\()+select\b"),
    rule(
        "sqli.time-based",
        Family::Sqli,
        CRITICAL,
        1,
        r"\b(?:sleep|benchmark|pg_sleep|randomblob)\s*\(|\bwaitfor\s+delay\b|\bdbms_pipe\.receive_message",
    ),
    rule(
        "sqli.schema",
        Family::Sqli,
        CRITICAL,
        1,
        r"\binformation_schema\b|\bsysobjects\b|\bsys\.(?:tables|columns|databases)\b|\bpg_catalog\b|\bsqlite_master\b|\bmysql\.user\b",
    ),
    rule(
        "sqli.stacked",
        Family::Sqli,
        CRITICAL,
        1,
        r";\s*(?:drop|truncate|alter|create|insert|update|delete|exec(?:ute)?|shutdown|declare)\b",
    ),
    rule(
        "sqli.functions",
        Family::Sqli,
        CRITICAL,
        1,
        r"\b(?:load_file|into\s+(?:out|dump)file|xp_cmdshell|sp_executesql|extractvalue|updatexml|group_concat|concat_ws|char\s*\(\s*\d|chr\s*\(\s*\d|unhex|utl_inaddr|dbms_\w+|sys_eval|@@version|version\s*\(\s*\))",
    ),
    rule(
        "sqli.tautology",
        Family::Sqli,
        CRITICAL,
        1,
        r#"['"`]\s*(?:or|and|\|\||&&)\s*['"`]?\w*['"`]?\s*(?:=|<>|!=|like|>|<)\s*['"`]?\w*|\b(?:or|and)\s+\d+\s*(?:=|<>|>|<)\s*\d+|\b(?:or|and)\s+(?:true|false)\b|\bor\s+['"]?[a-z]+['"]?\s*=\s*['"]?[a-z]+"#,
    ),
    rule(
        "sqli.comment-tail",
        Family::Sqli,
        CRITICAL,
        1,
        r#"['"`)]\s*(?:--|#|;)|\b(?:or|and|select|union|where|from)\b.*(?:--\s|#)$"#,
    ),
    rule(
        "sqli.string-operators",
        Family::Sqli,
        CRITICAL,
        1,
        r"['\x22`]\s*(?:collate|glob|regexp|rlike|sounds\s+like|not\s+like|like\s+binary)\b",
    ),
    rule("sqli.group-having", Family::Sqli, CRITICAL, 1, r"\bgroup\s+by\b.{0,80}\bhaving\b|\bhaving\s+count\s*\("),
    rule("sqli.in-list", Family::Sqli, CRITICAL, 2, r"\bin\s*\(\s*[-+]?\d+\s*(?:,\s*[-+]?\d+\s*)+\)"),
    rule(
        "sqli.logic-groups",
        Family::Sqli,
        CRITICAL,
        2,
        r"(?:\|\||&&)\s*\(\s*[a-z_]+\s*(?:===?|!==?|=)|\b(?:and|or)\s+\d+\s*=\s*\(|\b(?:and|or)\s+[a-z_]+\s*(?:=|!=|<>)\s*['\x22]",
    ),
    rule(
        "sqli.system-tables",
        Family::Sqli,
        CRITICAL,
        1,
        r"\bmsys(?:accessobjects|objects|queries|relationships)\b|\bsysibm\.|\ball_tables\b|\buser_tables\b|\bpg_shadow\b",
    ),
    rule(
        "sqli.function-call",
        Family::Sqli,
        CRITICAL,
        2,
        r"\b(?:database|schema|user|current_user|session_user|system_user|version|cast|convert|concat|substring|substr|mid|ascii|ord|hex|unhex|length|char|chr|replace|pow|power|sqrt|ln|log|exp|floor|ceil|rand|uncompress|compress|md5|sha1|sha2|db_name|find_in_set|sysdate|sin|cos|tan|right|left|trim|lower|upper|load_file|if|ifnull|nullif|coalesce|isnull|openrowset|opendatasource|starts_with|json_extract|json_keys)\s*\(",
    ),
    rule(
        "sqli.function-call-more",
        Family::Sqli,
        CRITICAL,
        2,
        r"\b(?:rtrim|ltrim|xmltype|elt|instr|locate|greatest|least|regexp_[a-z]+|jsonb?_[a-z_]+|pg_[a-z_]+|utl_[a-z_]+|unistr|to_char|to_number|make_set|export_set|bit_length|char_length|octet_length|get_lock|release_lock|master_pos_wait|db_id|object_id|col_name|has_dbaccess|is_srvrolemember|quotename|soundex|difference|nvl2?|decode|encode|pi|round|month|year|day|date|left|right|length|log|user|version|if|local)[^\w\s]*\(|\bprocedure\s+analyse\b",
    ),
    rule(
        "sqli.function-call-punctuated",
        Family::Sqli,
        CRITICAL,
        1,
        r"\b(?:length|log|user|version|left|right|month|day|year|if|md5|sha1|ascii|substr|substring|concat|char|hex|ord|count|sum|len)(?:\\|[|&!=?'/$)]+)\s*\(",
    ),
    rule(
        "sqli.casts",
        Family::Sqli,
        CRITICAL,
        2,
        r"::\s*(?:int|integer|bigint|smallint|text|jsonb?|numeric|varchar|bytea|regclass|oid)\b|[)'\x22`]\s*as\s+[\w\x22'`]+\s+from\b",
    ),
    rule(
        "sqli.products",
        Family::Sqli,
        CRITICAL,
        1,
        r"\bmsdb\b|\bmsdasql\b|\bxp_[a-z]+\b|\butl_(?:http|inaddr|file|smtp|tcp)\b|\bmysql\.db\b|\bschema_name\b|\bexec(?:ute)?\s+(?:immediate|sp_|xp_|master\.|@)|\bset\s+@@?[a-z_]+|\b(?:create|alter|drop)\s+(?:table|database|user|procedure|function|view|index|trigger)\b",
    ),
    rule(
        "sqli.operators-wide",
        Family::Sqli,
        CRITICAL,
        2,
        r"['\x22`]\s*(?:x?or|and|div|like|glob|rlike|regexp|is|in|between|notnull)\b|\bis\s+(?:not\s+)?(?:null|true|false|\d)\b|\blike\s+null\b|\brlike\b|\bnotnull\b|\bnorthwind\b|\bexecute\s+[a-z]|\border\s+by\b|\bunion\s*[/(]",
    ),
    rule(
        "sqli.keywords",
        Family::Sqli,
        CRITICAL,
        2,
        r"\b(?:select\b.+\bfrom|insert\s+into|delete\s+from|update\b.+\bset\b|drop\s+(?:table|database)|order\s+by\s+\d|having\s+\d|group\s+by\b.+\bhaving)\b",
    ),
    rule(
        "sqli.quote-operator",
        Family::Sqli,
        WARNING,
        2,
        r#"['"`]\s*(?:\|\||&&|\bor\b|\band\b|\bxor\b|\bdiv\b|[-+*/=<>])"#,
    ),
    // 943 session fixation
    rule(
        "session.fixation",
        Family::Session,
        CRITICAL,
        1,
        r"\.cookie\b.*?;\W*?(?:expires|domain)\W*?=|\bhttp-equiv\W+set-cookie\b|(?:jsessionid|phpsessid|aspsessionid|sessionid|sid)\s*=",
    ),
    // 944 Java
    rule(
        "java.jndi",
        Family::Java,
        CRITICAL,
        1,
        r"\$\{\s*(?:jndi|ctx|env|sys|java|lower|upper|date|main)\s*:|\$\{[^}]*\$\{",
    ),
    rule(
        "java.runtime",
        Family::Java,
        CRITICAL,
        1,
        r"java\.lang\.(?:runtime|processbuilder|class|system|reflect)|\bjava\.(?:[a-z_$]+\.)*(?:runtime|processbuilder)\b|\.getruntime\s*\(|\.getclass\s*\(|class\.module\.classloader|\bognl\b|@java\.|xwork\.methodaccessor|java\.io\.(?:file|objectinputstream)|javax\.script",
    ),
    rule(
        "java.classes",
        Family::Java,
        CRITICAL,
        1,
        r"\bjava\.(?:lang|io|util|net|beans|rmi|security|nio|sql)\.[a-z]+|\bjavax\.[a-z]+\.|\borg\.(?:omg|apache\.commons|springframework|codehaus\.groovy|hibernate|mozilla\.javascript)\b|\bcom\.opensymphony\.xwork2\b|\bcom\.sun\.|\bsun\.(?:misc|reflect|rmi)\.",
    ),
    rule(
        "java.gadgets",
        Family::Java,
        CRITICAL,
        1,
        r"\b(?:clonetransformer|forclosure|instantiatefactory|instantiatetransformer|invokertransformer|prototypeclonefactory|prototypeserializationfactory|whileclosure|chainedtransformer|constanttransformer|lazymap|templatesimpl|processbuilder|getruntime|fileoutputstream|objectinputstream|bytearrayoutputstream|pipedreader|scriptengine)\b",
    ),
    rule("java.serialized", Family::Java, CRITICAL, 1, r"\xac\xed\x00\x05|ro0abxnyc|aced0005"),
    // SSRF: URLs that point inside
    // 921 request smuggling / HTTP splitting: a request line inside a parameter.
    rule(
        "protocol.request-line",
        Family::Protocol,
        CRITICAL,
        1,
        r"\b(?:get|post|head|put|delete|options|connect|trace|patch|propfind)\s+\S+\s+http/\d(?:\.\d)?\b",
    ),
    rule(
        "ssrf.internal-url",
        Family::Ssrf,
        CRITICAL,
        1,
        r"(?:https?|ftp|gopher|dict|ldap|tftp)://(?:[^/@]*@)?(?:localhost|127\.\d+\.\d+\.\d+|0\.0\.0\.0|0x7f|2130706433|\[?::1\]?|\[?::ffff:|169\.254\.\d+\.\d+|10\.\d+\.\d+\.\d+|192\.168\.\d+\.\d+|172\.(?:1[6-9]|2\d|3[01])\.\d+\.\d+|metadata\.google\.internal|instance-data)",
    ),
    rule(
        "ssrf.encoded-ip",
        Family::Ssrf,
        CRITICAL,
        1,
        r"^[a-z][a-z0-9+.-]{1,15}:/{0,2}(?:[^/@\s]*@)?(?:\d{8,10}|0x[0-9a-f]{6,8}|0[0-7]{1,4}\.[0-7.]+|(?:\d{1,3}\.){1,2}\d{4,}|\[[0-9a-z:.%]*\])(?:[:/?#]|$)",
    ),
    rule(
        "ssrf.internal-host",
        Family::Ssrf,
        CRITICAL,
        1,
        r"(?:^|//|@)(?:localhost(?:\.localdomain)?|localhost[46](?:\.localdomain[46])?|ip6-(?:loopback|localhost)|[a-z.]*docker\.internal|host\.containers\.internal|lvh\.me|kubernetes\.default(?:\.svc)?|instance-data|metadata\.google\.internal)(?:[:/?#]|$)|^(?:https?|ftp|gopher):/?(?:127\.|0\.0\.0\.0|169\.254\.|\[)",
    ),
    rule("ssrf.scheme", Family::Ssrf, CRITICAL, 1, r"^(?:gopher|dict|ldap|tftp|jar|netdoc|file)://"),
    // Short forms resolvers still read as loopback or "this host": `127.1`, `127.0.1`, `0`, `0.0`.
    rule(
        "ssrf.short-ip",
        Family::Ssrf,
        CRITICAL,
        1,
        r"(?:https?|ftp|gopher|dict|ldap|tftp)://(?:[^/@\s]*@)?(?:127(?:\.\d+){0,2}|0+(?:\.0+){0,3})(?::\d*)?(?:[/?#]|$)",
    ),
];

/// The command line as a shell reads it: quotes, backslashes, carets and empty expansions (`$@`, `$*`, `$$`)
/// vanish between letters (`c''at`, `w\get`, `una$@me`), and a one-character bracket glob is that character
/// (`/bi[n]/sh`). Only the command-injection rules look at this form.
#[must_use]
pub fn shell_fold(folded: &str) -> Option<String> {
    if !folded.contains(['\'', '"', '\\', '`', '^', '$', '[']) {
        return None;
    }
    let b = folded.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'\'' | b'"' | b'\\' | b'^' => {}
            b'`' if b.get(i + 1) == Some(&b'`') => i += 1,
            b'$' if matches!(b.get(i + 1), Some(b'@' | b'*' | b'$' | b'_')) => i += 1,
            b'[' if b.get(i + 2) == Some(&b']') && b.get(i + 1).is_some_and(u8::is_ascii_alphanumeric) => {
                out.extend(b.get(i + 1));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    let shell = String::from_utf8(out).ok()?;
    (shell != folded).then_some(shell)
}

/// The command-injection rules alone, for the shell-folded form.
static RCE_SET: LazyLock<Option<(RegexSet, Vec<usize>)>> = LazyLock::new(|| {
    let ids: Vec<usize> = RULES.iter().enumerate().filter(|(_, r)| r.family == Family::Rce).map(|(i, _)| i).collect();
    let set = rule_set(ids.iter().filter_map(|&i| RULES.get(i)))?;
    Some((set, ids))
});

/// Local-file names whose mention in a parameter is an attack (CRS lfi-os-files, abridged).
const OS_FILES: &[&str] = &[
    "etc/passwd",
    "etc/shadow",
    "etc/group",
    "etc/hosts",
    "etc/issue",
    "etc/motd",
    "etc/crontab",
    "etc/sudoers",
    "etc/security/",
    "proc/self/",
    "proc/version",
    "proc/cmdline",
    "/proc/",
    "win.ini",
    "system.ini",
    "boot.ini",
    "windows/system32",
    "winnt/system32",
    "system32/drivers",
    ".htaccess",
    ".htpasswd",
    "web.config",
    "wp-config",
    ".git/",
    ".svn/",
    ".env",
    "id_rsa",
    "id_dsa",
    ".ssh/",
    ".bash_history",
    ".aws/credentials",
    "/var/log/",
    "httpd.conf",
    "nginx.conf",
    "php.ini",
    "my.cnf",
    "/etc/",
    "c:\\",
    "c:/",
    "../",
];

/// Security scanners' user agents (CRS scanners-user-agents, abridged).
const SCANNERS: &[&str] = &[
    "sqlmap",
    "nikto",
    "nmap",
    "masscan",
    "acunetix",
    "nessus",
    "openvas",
    "w3af",
    "dirbuster",
    "gobuster",
    "wpscan",
    "zgrab",
    "nuclei",
    "netsparker",
    "havij",
    "arachni",
    "jbrofuzz",
    "fimap",
    "paros",
    "webinspect",
    "zmeu",
    "morfeus",
    "whatweb",
    "skipfish",
    "bsqlbf",
    "brutus",
    "grabber",
    "nsauditor",
    "pangolin",
    "sqlninja",
    "webshag",
    "commix",
    "ffuf",
    "feroxbuster",
    "wfuzz",
    "dirb",
    "hydra",
    "blackwidow",
    "burpcollaborator",
    "zaproxy",
    "xsstrike",
    "metis",
    "mozilla/5.0 sf",
    "absinthe",
    "crimscanner",
    "webvulnscan",
    "detectify",
    "qualys",
];

/// Java serialisation's magic bytes `AC ED 00 05` in base64, in the three byte alignments (CRS 944210).
const JAVA_MAGIC_BASE64: &[&str] = &["rO0AB", "KztAAU", "Cs7QAF"];

/// Classes of deserialisation gadget chains and process launchers. Their base64 encodings inside a value are a
/// serialised Java payload in transit (CRS 944250/944300); matched in each of the three byte alignments and in the
/// spellings Java code uses.
const JAVA_BASE64_WORDS: &[&str] = &[
    "runtime",
    "processbuilder",
    "clonetransformer",
    "forclosure",
    "instantiatefactory",
    "instantiatetransformer",
    "invokertransformer",
    "prototypeclonefactory",
    "prototypeserializationfactory",
    "whileclosure",
    "getproperty",
    "filewriter",
    "xmldecoder",
    "Runtime",
    "ProcessBuilder",
    "CloneTransformer",
    "ForClosure",
    "InstantiateFactory",
    "InstantiateTransformer",
    "InvokerTransformer",
    "PrototypeCloneFactory",
    "PrototypeSerializationFactory",
    "WhileClosure",
    "getProperty",
    "FileWriter",
    "XMLDecoder",
];

/// Node.js deserialisation and process spawning, base64-encoded (CRS 934 node-js rules).
const NODE_BASE64_WORDS: &[&str] = &["_$$ND_FUNC$$_", "require(", "child_process", "__js_function"];

/// The base64 characters that depend on `word` alone when it starts `shift` bytes into the encoded data: the
/// characters straddling a neighbouring byte are left out, so the fragment matches whatever surrounds the word.
#[must_use]
pub fn base64_fragment(word: &str, shift: usize) -> String {
    use base64::Engine as _;
    let mut bytes = vec![0u8; shift];
    bytes.extend_from_slice(word.as_bytes());
    let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes);
    let first = (8 * shift).div_ceil(6);
    let last = 8 * (shift + word.len()) / 6;
    encoded.get(first..last).unwrap_or_default().to_owned()
}

/// Case-sensitive (base64 is): the magic first, then every word in three alignments.
static JAVA_BASE64_AC: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    let mut needles: Vec<String> = JAVA_MAGIC_BASE64.iter().map(|s| (*s).to_owned()).collect();
    for word in JAVA_BASE64_WORDS.iter().chain(NODE_BASE64_WORDS) {
        needles.extend((0..3).map(|shift| base64_fragment(word, shift)));
    }
    AhoCorasickBuilder::new().kind(Some(AhoCorasickKind::DFA)).build(needles).ok()
});

/// NoSQL (MongoDB) operators, as JSON keys or bracketed parameter names.
const NOSQL_OPERATORS: &[&str] = &[
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$regex",
    "$where",
    "$in",
    "$nin",
    "$exists",
    "$expr",
    "$function",
    "$or",
    "$and",
    "$not",
    "$nor",
    "$elemmatch",
    "$accumulator",
];

/// Word boundaries are ASCII: the folded text is lower-case, and a Unicode `\b` would keep the regex engine off
/// its fast (lazy DFA) path.
static RULE_SET: LazyLock<Option<RegexSet>> = LazyLock::new(|| rule_set(RULES.iter()));

/// A set of rules for one pass. The lazy DFA's cache is sized for a set this large: at the default (2 MiB) it
/// filled and was rebuilt over and over on ordinary requests (seen in profiles as determinisation).
fn rule_set<'r>(rules: impl Iterator<Item = &'r Rule>) -> Option<RegexSet> {
    regex::RegexSetBuilder::new(rules.map(|r| r.pattern.replace(r"\b", r"(?-u:\b)")))
        .dfa_size_limit(32 * 1024 * 1024)
        .size_limit(32 * 1024 * 1024)
        .build()
        .ok()
}

fn list(words: &[&str]) -> Option<AhoCorasick> {
    // A DFA: built once, then one table lookup per byte, which every field's scan pays.
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostFirst)
        .kind(Some(AhoCorasickKind::DFA))
        .build(words)
        .ok()
}

/// A line that starts with a request method (921: HTTP splitting), in query values, names and headers — not in
/// form bodies, where a shopper's multi-line review may well start a line with "Get".
static NEWLINE_METHOD: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
    regex::Regex::new(
        r"(?i)[\r\n][ \t]*(?:(?:get|post|head|put|delete|options|connect|trace|patch)(?:[ \t]|$)|(?:[a-z]?\d+[ \t]+)?(?:rcpt[ \t]+to|mail[ \t]+from|helo|ehlo|help|data|quit|retr|apop|noop|rset|examine|search|append|fetch|store|login|logout|capability|authenticate|starttls|uid)\b)",
    )
    .ok()
});

/// Executable or session-file names for uploads.
static UPLOAD_NAME: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
    regex::Regex::new(
        r"\.(?:php\d?|phtml|phps|phar|pht|pgif|shtml|asp|aspx|jsp|jspx|cgi|htaccess)[.\s]*$|(?:^|/)sess_[a-z0-9]+",
    )
    .ok()
});

/// Parameter names that carry session identifiers (943: session fixation).
const SESSION_NAMES: &[&str] =
    &["jsessionid", "phpsessid", "aspsessionid", "asp.net_sessionid", "sessionid", "session_id", "cfid", "cftoken"];

/// CRLF / header injection (921): checked on the decoded value, since folding turns line breaks into spaces.
static CRLF: LazyLock<Option<regex::Regex>> =
    LazyLock::new(|| regex::Regex::new(r"(?i)[\r\n][ \t]*(?:[a-z][a-z0-9-]{1,40}[ \t]*:|http/\d)").ok());

/// Matched on the folded value, which has no ASCII upper case: case-sensitive, so the searcher can use its
/// SIMD prefilter.
static OS_FILES_AC: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    AhoCorasickBuilder::new().match_kind(MatchKind::LeftmostFirst).kind(Some(AhoCorasickKind::DFA)).build(OS_FILES).ok()
});
static SCANNERS_AC: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| list(SCANNERS));

/// Whether every pattern compiled (checked by a test; a broken pattern would silently disable its rule).
#[must_use]
pub fn patterns_compile() -> bool {
    RULE_SET.is_some()
        && OS_FILES_AC.is_some()
        && SCANNERS_AC.is_some()
        && JAVA_BASE64_AC.is_some()
        && RCE_SET.is_some()
        && CRLF.is_some()
        && NEWLINE_METHOD.is_some()
        && UPLOAD_NAME.is_some()
}

/// What a finding quotes of a value: its first 80 characters, card numbers redacted first (so a cut cannot leave
/// most of one behind).
pub(crate) fn excerpt(s: &str) -> String {
    palisade_core::redact::card_numbers(s).chars().take(80).collect()
}

fn finding(rule: &'static str, family: Family, score: u32, paranoia: u8, field: &Field, value: &str) -> Finding {
    Finding {
        rule,
        family,
        score,
        paranoia,
        location: field.location,
        field: palisade_core::redact::card_numbers(&field.name).chars().take(64).collect(),
        excerpt: excerpt(value),
    }
}

/// Protocol-level shapes of one value: NUL bytes, line breaks that split a response or smuggle a method,
/// executable upload names, session ids in parameter names, and broken encodings.
fn shape_checks(field: &Field, n: &Normalised, value: &str, out: &mut Vec<Finding>) {
    let header = field.location == Location::Header;
    if n.null_byte {
        out.push(finding("protocol.null-byte", Family::Protocol, CRITICAL, 1, field, value));
    }
    // Both line-break rules need a line break.
    let line_break = value.bytes().any(|b| b == b'\r' || b == b'\n');
    if !header
        && line_break
        && let Some(re) = CRLF.as_ref()
        && re.is_match(value)
    {
        out.push(finding("protocol.crlf", Family::Protocol, CRITICAL, 1, field, value));
    }
    if line_break
        && matches!(field.location, Location::Query | Location::Name | Location::Header)
        && let Some(re) = NEWLINE_METHOD.as_ref()
        && re.is_match(value)
    {
        out.push(finding("protocol.newline-method", Family::Protocol, CRITICAL, 1, field, value));
    }
    // Uploaded file names (multipart `filename=` or the X-Filename family of headers) that the server might execute
    // or that name PHP session files (933110, 933111).
    let filename_field = (field.location == Location::Name && field.name.ends_with(".filename"))
        || (header && filename_header(&field.name));
    if filename_field
        && let Some(re) = UPLOAD_NAME.as_ref()
        && re.is_match(&n.folded)
    {
        out.push(finding("php.upload-name", Family::Php, CRITICAL, 1, field, value));
    }
    if field.location == Location::Name
        && !field.name.starts_with("cookie:")
        && SESSION_NAMES.iter().any(|s| n.folded.trim() == *s)
    {
        out.push(finding("session.id-parameter", Family::Session, CRITICAL, 1, field, value));
    }
    if field.location == Location::Name && field.name == "multipart.disposition" {
        out.push(finding("protocol.multipart-name", Family::Protocol, CRITICAL, 1, field, value));
    }
    if n.invalid_encoding && field.encoded {
        out.push(finding("protocol.invalid-encoding", Family::Protocol, WARNING, 1, field, value));
    }
}

/// Serialised Java objects and Node payloads in base64 (the markers of gadget-chain attacks).
fn java_base64(field: &Field, n: &Normalised, value: &str, paranoia: u8, out: &mut Vec<Finding>) {
    if let Some(ac) = JAVA_BASE64_AC.as_ref() {
        // The raw value too: a `+` of base64 in a form turns into a space once decoded, and a `%` before a
        // fragment can swallow its first characters. Only a decoded value can differ from the raw one.
        let decoded = matches!(n.decoded, std::borrow::Cow::Owned(_));
        let hit = ac
            .find(value)
            .or_else(|| (decoded && field.value != value).then(|| ac.find(field.value.as_ref())).flatten());
        match hit.map(|m| m.pattern().as_usize()) {
            Some(i) if i < JAVA_MAGIC_BASE64.len() => {
                out.push(finding("java.serialized-base64", Family::Java, CRITICAL, 1, field, value));
            }
            Some(i) if i >= JAVA_MAGIC_BASE64.len() + 3 * JAVA_BASE64_WORDS.len() => {
                out.push(finding("generic.node-base64", Family::Generic, CRITICAL, 1, field, value));
            }
            Some(_) if paranoia >= 2 => {
                out.push(finding("java.base64-class", Family::Java, CRITICAL, 2, field, value));
            }
            _ => {}
        }
    }
}

/// Shell commands, matched on the shell-folded value; rules already found by the pattern scan are not repeated.
fn shell_commands(field: &Field, n: &Normalised, value: &str, paranoia: u8, out: &mut Vec<Finding>) {
    if let Some((set, ids)) = RCE_SET.as_ref()
        && let Some(shell) = shell_fold(&n.folded)
    {
        let already: Vec<&str> = out.iter().map(|f| f.rule).collect();
        let mut found = Vec::new();
        for i in set.matches(&shell).iter() {
            let Some(r) = ids.get(i).and_then(|&i| RULES.get(i)) else { continue };
            if r.paranoia <= paranoia && !already.contains(&r.id) {
                found.push(finding(r.id, r.family, r.score, r.paranoia, field, value));
            }
        }
        out.extend(found);
    }
}

/// Runs every value detector on one field, appending findings of rules at or below `paranoia`.
pub fn inspect_field(
    engine: &dyn InjectionEngine,
    field: &Field,
    n: &Normalised,
    paranoia: u8,
    out: &mut Vec<Finding>,
) {
    let value: &str = &n.decoded;
    if value.is_empty() {
        return;
    }
    let header = field.location == Location::Header;
    if field.location == Location::Header && field.name == "user-agent" {
        if let Some(ac) = SCANNERS_AC.as_ref()
            && ac.is_match(value)
        {
            out.push(finding("scanner.user-agent", Family::Scanner, CRITICAL, 1, field, value));
        }
        // Browsers' user agents are full of parentheses and semicolons: only the scanner list applies.
        return;
    }
    // Referer and Origin carry URLs by design.
    let url_header = header && matches!(field.name.as_ref(), "referer" | "origin");
    shape_checks(field, n, value, out);
    if value.len() >= 2 {
        let engine_value = if field.location == Location::Path { value.trim_start_matches('/') } else { value };
        // The tokenizers only ever flag input with these characters; plain words (the bulk of shopping
        // traffic) skip them. Keyword-only payloads (`union select …`) are the pattern rules' job.
        // A lone `-` or `/` (dates, ids, slugs, fractions) gives the tokenizer nothing to flag; `--` and `/*`
        // (comments) do.
        // (`/*` needs no test of its own: `*` is among the SQL characters.)
        let (sql_chars, html_chars) = special_chars(engine_value);
        if !url_header && sql_chars && engine.is_sqli(engine_value) {
            out.push(finding("sqli.libinjection", Family::Sqli, CRITICAL, 1, field, value));
        }
        if html_chars && engine.is_xss(value) {
            out.push(finding("xss.libinjection", Family::Xss, CRITICAL, 1, field, value));
        }
    }
    // Most values match no rule: the earliest-match scan answers that without collecting every match.
    if let Some(set) = RULE_SET.as_ref()
        && set.is_match(&n.folded)
    {
        let matched = set.matches(&n.folded);
        for i in matched.iter() {
            let Some(r) = RULES.get(i) else { continue };
            if r.paranoia > paranoia {
                continue;
            }
            // URLs are expected in Referer/Origin; the path is checked for traversal separately.
            if url_header && matches!(r.family, Family::Rfi | Family::Ssrf) {
                continue;
            }
            if field.location == Location::Path && r.family == Family::Lfi {
                continue;
            }
            out.push(finding(r.id, r.family, r.score, r.paranoia, field, value));
        }
    }
    java_base64(field, n, value, paranoia, out);
    if !url_header {
        shell_commands(field, n, value, paranoia, out);
    }
    if !header
        && field.location != Location::Path
        && let Some(ac) = OS_FILES_AC.as_ref()
        && ac.is_match(n.folded.as_ref())
    {
        out.push(finding("lfi.os-file", Family::Lfi, CRITICAL, 1, field, value));
    }
    if field.location == Location::Name {
        let key = n.folded.as_ref();
        let bracketed = key.rsplit_once('[').map_or(key, |(_, k)| k.trim_end_matches(']'));
        if NOSQL_OPERATORS.contains(&bracketed) || NOSQL_OPERATORS.contains(&key.rsplit('.').next().unwrap_or(key)) {
            out.push(finding("nosql.operator", Family::Nosql, CRITICAL, 1, field, value));
        }
    }
    if paranoia >= 3 {
        let specials = value.chars().filter(|c| "'\";`()<>{}|&$".contains(*c)).count();
        if specials >= 6 {
            out.push(finding("generic.special-characters", Family::Generic, WARNING, 3, field, value));
        }
    }
    if paranoia >= 4 && value.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        out.push(finding("protocol.control-characters", Family::Protocol, NOTICE, 4, field, value));
    }
}

/// Whether a value has characters the SQL tokenizer (or `--`) and the HTML tokenizer could flag, in one pass.
/// (An apostrophe inside a word, as in `O'Connell`, still counts: `x'except select …'` is an injection too.)
pub fn special_chars(value: &str) -> (bool, bool) {
    let bytes = value.as_bytes();
    let (mut sql, mut html) = (false, false);
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\'' | b'"' | b'(' | b'=' => (sql, html) = (true, true),
            b'`' | b';' | b')' | b'#' | b'*' | b'|' | b'&' | b'\\' => sql = true,
            b'-' if i > 0 && bytes.get(i - 1) == Some(&b'-') => sql = true,
            b'<' | b'>' | b':' => html = true,
            _ => {}
        }
        if sql && html {
            break;
        }
    }
    (sql, html)
}

/// `X-Filename`, `X_File_Name`, `x.file-name`…: a header naming an uploaded file (`-`, `_` and `.` alike).
/// Most headers do not end in `name`, and are answered without allocating.
fn filename_header(name: &str) -> bool {
    if !name.ends_with("name") {
        return false;
    }
    let unified = name.replace(['_', '.'], "-");
    unified.ends_with("file-name") || unified.ends_with("filename")
}

/// Checks the path once resolved: traversal that climbs, and local files asked for directly.
pub fn inspect_path(field: &Field, n: &Normalised, out: &mut Vec<Finding>) {
    // Most paths are already resolved: read them where they are instead of walking and rebuilding them.
    let walked;
    let (resolved, climbed) = match crate::normalise::resolved_as_is(&n.decoded) {
        Some(same) => (same, false),
        None => {
            walked = crate::normalise::resolve_path(&n.decoded);
            (walked.0.as_str(), walked.1)
        }
    };
    if climbed {
        out.push(finding("lfi.path-traversal", Family::Lfi, CRITICAL, 1, field, &n.decoded));
    }
    const FILES: &[&str] = &[
        "/etc/passwd",
        "/etc/shadow",
        "/proc/self/",
        "/.git/",
        "/.env",
        "/.htaccess",
        "/.htpasswd",
        "/web.config",
        "/wp-config.php",
        "/win.ini",
        "/boot.ini",
        "/.aws/",
        "/.ssh/",
    ];
    // ASCII paths (nearly all) are compared ignoring case in place; others are lower-cased as Unicode does.
    let hit = if resolved.is_ascii() {
        FILES.iter().any(|f| resolved.as_bytes().windows(f.len()).any(|w| w.eq_ignore_ascii_case(f.as_bytes())))
    } else {
        let lower = resolved.to_lowercase();
        FILES.iter().any(|f| lower.contains(f))
    };
    if hit {
        out.push(finding("lfi.path-file", Family::Lfi, CRITICAL, 1, field, &n.decoded));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_characters_are_found_as_the_plain_definition_finds_them() {
        let plain = |v: &str| {
            (
                v.bytes().any(|b| b"'\"`;()=#*|&\\".contains(&b)) || v.contains("--"),
                v.bytes().any(|b| b"<>\"'=:(".contains(&b)),
            )
        };
        for text in [
            "12 O'Connell St. #03-01",
            "x'except select password from users where name like'a",
            "id=1 or 2#1",
            "men's shoes",
            "a -- b",
            "a - b / c",
            "<b>",
            "plain",
            "",
            "-",
            "--",
            "é'",
        ] {
            assert_eq!(special_chars(text), plain(text), "{text}");
        }
        // Values a shopper's apostrophe might hide an injection in still reach the tokenizer, which flags them.
        for attack in ["x'except select password from users where name like'a", "id=1 or 2#1"] {
            assert!(special_chars(attack).0 && Libinjection.is_sqli(attack), "{attack}");
        }
    }
}
