import SystemSupport

extension HookRunner {
    /// What the hook is told, as `NAME=value` entries: PATH, the [cert] name, the event (`enrolled`, `recovered`
    /// or `renewed`), and the key (a `pkcs11:` URI without its PIN), certificate, chain and ca paths.
    public static func environment(for config: CertConfig, event: String) -> [String] {
        var entries = ["PATH=" + path, "SCEP_AGENT_NAME=" + config.name, "SCEP_AGENT_EVENT=" + event,
                       "SCEP_AGENT_KEY=" + config.paths.key.description, "SCEP_AGENT_CERT=" + config.paths.certificate]
        if let chain = config.paths.chain { entries.append("SCEP_AGENT_CHAIN=" + chain) }
        if let ca = config.paths.ca { entries.append("SCEP_AGENT_CA=" + ca) }
        return entries
    }
}
