package natstest

import "github.com/nats-io/nats-server/v2/server"

// The users WithSystemUser gives a server.
const (
	SysUser, SysPassword = "sys", "sys-secret"
	AppUser, AppPassword = "app", "app-secret"
)

// WithSystemUser is an edit for StartClusterWith: the system account
// $SYS with the user SysUser (as natsops renders server.auth.system_user)
// and the account APP with AppUser for clients.
func WithSystemUser(_ int, o *server.Options) {
	sys, app := server.NewAccount(server.DEFAULT_SYSTEM_ACCOUNT), server.NewAccount("APP")
	o.Accounts = []*server.Account{sys, app}
	o.SystemAccount = server.DEFAULT_SYSTEM_ACCOUNT
	o.Users = []*server.User{
		{Username: SysUser, Password: SysPassword, Account: sys},
		{Username: AppUser, Password: AppPassword, Account: app},
	}
}
