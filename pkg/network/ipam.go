package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
)

// IPAM hands out the addresses of a subnet, one per container, the way the
// CNI host-local plugin does: a directory holds one file per address in use,
// named by the address and holding its owner's id, e.g.
//
//	/run/tincan/ipam/10.77.0.0-16/10.77.0.2   "c0ffee\n"
//
// Every change happens under an exclusive flock(2) on the directory's lock
// file, so concurrent cans never share an address. flock locks belong to the
// open file description: two opens in one process exclude each other as two
// processes would, and the kernel drops the lock when its holder dies, so a
// crashed can never leaves the directory locked.
type IPAM struct {
	Dir    string     // e.g. /run/tincan/ipam/10.77.0.0-16
	Subnet *net.IPNet // the addresses to hand out; .1 is the gateway's
}

// Gateway is the subnet's first address, kept for the bridge.
func (p IPAM) Gateway() net.IP { return addIP(p.Subnet.IP.Mask(p.Subnet.Mask), 1) }

// Allocate gives an address to owner: want if not nil, or the next free one
// after the last handed out (round robin, so a freed address is not reused at
// once while other containers may still have its old MAC in their ARP caches).
func (p IPAM) Allocate(owner string, want net.IP) (net.IP, error) {
	unlock, err := p.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if want != nil {
		if err := p.usable(want); err != nil {
			return nil, err
		}
		want = want.To4()
		if err := p.claim(want, owner); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return nil, fmt.Errorf("address %s is taken by container %s: choose another --ip or none", want, p.owner(want))
			}
			return nil, err
		}
		return want, nil
	}
	ones, bits := p.Subnet.Mask.Size()
	size := uint32(1) << (bits - ones)
	base := p.Subnet.IP.Mask(p.Subnet.Mask)
	last := p.last()
	// Host numbers 2 .. size-2: 0 is the network, 1 the gateway, size-1 broadcast.
	for i := uint32(0); i < size-3; i++ {
		n := 2 + (last-2+1+i)%(size-3)
		ip := addIP(base, n)
		err := p.claim(ip, owner)
		if err == nil {
			os.WriteFile(filepath.Join(p.Dir, "last"), []byte(ip.String()+"\n"), 0o644)
			return ip, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no free address left in %s (%s): remove stopped containers with can cleanup", p.Subnet, p.Dir)
}

// Release frees ip if owner holds it. Releasing a free address is not an error.
func (p IPAM) Release(ip net.IP, owner string) error {
	unlock, err := p.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if p.owner(ip) != owner {
		return nil
	}
	return ignoreNotExist(os.Remove(filepath.Join(p.Dir, ip.String())))
}

// Allocated maps each address in use to its owner.
func (p IPAM) Allocated() (map[string]string, error) {
	entries, err := os.ReadDir(p.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, e := range entries {
		if ip := net.ParseIP(e.Name()); ip != nil {
			m[e.Name()] = p.owner(ip)
		}
	}
	return m, nil
}

// Sweep releases the addresses whose owner is no longer alive, and returns
// them: the cleanup after a can that was killed before it could release.
func (p IPAM) Sweep(alive func(owner string) bool) ([]net.IP, error) {
	unlock, err := p.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	held, err := p.Allocated()
	if err != nil {
		return nil, err
	}
	var freed []net.IP
	for addr, owner := range held {
		if !alive(owner) {
			if err := ignoreNotExist(os.Remove(filepath.Join(p.Dir, addr))); err != nil {
				return freed, err
			}
			freed = append(freed, net.ParseIP(addr))
		}
	}
	return freed, nil
}

// lock takes the directory's lock, creating the directory when needed.
func (p IPAM) lock() (unlock func(), err error) {
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("address allocator: %w", err)
	}
	name := filepath.Join(p.Dir, "lock")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("address allocator: %w", err)
	}
	trace.Call("flock(%d<%s>, LOCK_EX)", f.Fd(), name)
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("address allocator: flock %s: %w", name, err)
	}
	return func() { f.Close() }, nil // closing the last fd drops the lock
}

// claim creates ip's file for owner. O_EXCL makes the creation fail with
// EEXIST when the file is there: the address is taken.
func (p IPAM) claim(ip net.IP, owner string) error {
	f, err := os.OpenFile(filepath.Join(p.Dir, ip.String()), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(owner + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (p IPAM) owner(ip net.IP) string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, ip.String()))
	return strings.TrimSpace(string(b))
}

// last is the host number handed out last, or 1 (the gateway) at first.
func (p IPAM) last() uint32 {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "last"))
	ip := net.ParseIP(strings.TrimSpace(string(b))).To4()
	if ip == nil || !p.Subnet.Contains(ip) {
		return 1
	}
	return binary.BigEndian.Uint32(ip) &^ binary.BigEndian.Uint32(p.Subnet.Mask)
}

// usable refuses addresses a container cannot have.
func (p IPAM) usable(ip net.IP) error {
	ip4 := ip.To4()
	if ip4 == nil || !p.Subnet.Contains(ip4) {
		return fmt.Errorf("address %s is not in the subnet %s", ip, p.Subnet)
	}
	ones, bits := p.Subnet.Mask.Size()
	host := binary.BigEndian.Uint32(ip4) &^ binary.BigEndian.Uint32(p.Subnet.Mask)
	switch {
	case host == 0 || host == uint32(1)<<(bits-ones)-1:
		return fmt.Errorf("address %s is the network or broadcast address of %s", ip, p.Subnet)
	case host == 1:
		return fmt.Errorf("address %s is the gateway, on the bridge", ip)
	}
	return nil
}

// addIP returns the IPv4 address n after base.
func addIP(base net.IP, n uint32) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, binary.BigEndian.Uint32(base.To4())+n)
	return ip
}

func ignoreNotExist(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
