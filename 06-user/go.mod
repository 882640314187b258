module tincan.dev/06-user

go 1.22

require (
	github.com/stretchr/testify v1.10.0
	tincan.dev/pkg v0.0.0
)

require (
	github.com/moby/sys/mountinfo v0.7.3 // indirect
	github.com/opencontainers/runtime-spec v1.2.1 // indirect
)

require (
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/google/go-cmdtest v0.4.0 // indirect
	github.com/google/go-cmp v0.6.0 // indirect
	github.com/google/nftables v0.2.0 // indirect
	github.com/google/renameio v0.1.0 // indirect
	github.com/josharian/native v1.1.0 // indirect
	github.com/mdlayher/netlink v1.7.2 // indirect
	github.com/mdlayher/socket v0.5.0 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	github.com/vishvananda/netlink v1.3.0 // indirect
	github.com/vishvananda/netns v0.0.5 // indirect
	golang.org/x/net v0.22.0 // indirect
	golang.org/x/sync v0.6.0 // indirect
	golang.org/x/sys v0.30.0
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace tincan.dev/pkg => ../pkg
