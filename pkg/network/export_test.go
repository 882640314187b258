package network

// RuleTexts lists the rules, as nft(8) lists them, that a's bridge and
// a.Publish(ports) make.
func RuleTexts(b Bridge, a *Attachment, ports []Port) []string {
	b, _ = b.withDefaults()
	var texts []string
	for _, r := range natRules(b.Name, b.Subnet) {
		texts = append(texts, r.text)
	}
	for _, p := range ports {
		texts = append(texts, dnatRule(a.ID, p, a.IP.IP).text)
	}
	return texts
}
