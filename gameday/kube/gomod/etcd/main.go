// Command etcd is etcd's own server entry point, built from the published go.etcd.io/etcd/server/v3
// module so the sandbox can run etcd 3.6 (Debian ships 3.4, below what Kubernetes supports).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
