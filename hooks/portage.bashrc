# dmake for portage: add to /etc/portage/bashrc (bash, sourced by every
# ebuild phase).
#
# Puts dmake's compiler masquerade directory first on PATH and points the
# shims at `dmake serve`'s socket in the phases that compile, when the
# server is up.  The configure, compile and test phases run in their own
# network namespace: the shim reaches the server through the socket's
# path, never the network, and its compiles still go to the nodes: the
# server relays the shim's connection to its node through that socket.
# The shim authenticates to the node itself, so user portage needs a
# copy of the cluster key (install -m 0600 -o portage
# /etc/dmake/cluster.key /etc/dmake/portage.key).  Adjust DMAKE_MASQ_DIR
# to dmake's $(libexecdir)/dmake/bin if it was installed with another
# prefix.

case ${EBUILD_PHASE} in
configure | compile | test | install)
	if [[ -S /run/dmake/sock ]]; then
		export DMAKE_SOCKET=/run/dmake/sock
		if [[ -r /etc/dmake/portage.key ]]; then
			export DMAKE_KEY_FILE=/etc/dmake/portage.key
		fi
		export DMAKE_MASQ_DIR=${DMAKE_MASQ_DIR:-/usr/libexec/dmake/bin}
		case :${PATH}: in
		*:${DMAKE_MASQ_DIR}:*) ;;
		*) export PATH=${DMAKE_MASQ_DIR}:${PATH} ;;
		esac
	fi
	;;
esac
