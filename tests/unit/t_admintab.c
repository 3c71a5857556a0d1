/* The admin socket's request parser and table text (src/admintab.c). */
#include <stdlib.h>
#include <string.h>

#include "admintab.h"
#include "test.h"

#define P(s, ap) admin_parse(s, strlen(s), ap)

int main(void)
{
	struct admin_row rows[3];
	struct mbuf out = { 0 };
	struct admin_arg id = { 0 };
	char big[ADMIN_REQ_MAX];

	CHECK_INT(P("conns\n", &id), ADMIN_CONNS, "conns");
	CHECK_INT(P("conns\r\n", &id), ADMIN_CONNS, "conns CRLF");
	CHECK_INT(P("conns", &id), ADMIN_NEED_MORE, "no newline yet");
	CHECK_INT(P("kill 42\n", &id), ADMIN_KILL, "kill");
	CHECK(id.id == 42, "kill id");
	CHECK_INT(P("kill 18446744073709551615\n", &id), ADMIN_KILL, "kill max");
	CHECK_INT(P("kill 18446744073709551616\n", &id), ADMIN_BAD, "kill overflow");
	CHECK_INT(P("kill 0\n", &id), ADMIN_BAD, "kill 0");
	CHECK_INT(P("kill \n", &id), ADMIN_BAD, "kill no id");
	CHECK_INT(P("kill 4x\n", &id), ADMIN_BAD, "kill junk");
	CHECK_INT(P("connsx\n", &id), ADMIN_BAD, "other");
	CHECK_INT(P("help\n", &id), ADMIN_HELP, "help");
	CHECK_INT(P("help me\n", &id), ADMIN_BAD, "help takes no argument");
	CHECK_INT(P("servers\n", &id), ADMIN_SERVERS, "servers");
	CHECK_INT(P("servers x\n", &id), ADMIN_BAD, "servers takes no argument");
	CHECK_INT(P("handover\n", &id), ADMIN_HANDOVER, "handover");
	CHECK_INT(P("handover x\n", &id), ADMIN_BAD, "handover takes no argument");
	CHECK_INT(P("disable 10.0.0.1:443\n", &id), ADMIN_DISABLE, "disable");
	CHECK_STR(id.word, "10.0.0.1:443", "disable's server");
	CHECK_INT(P("enable b.example:443\r\n", &id), ADMIN_ENABLE, "enable CRLF");
	CHECK_STR(id.word, "b.example:443", "enable's server");
	CHECK_INT(P("drain [::1]:8443\n", &id), ADMIN_DRAIN, "drain");
	CHECK_STR(id.word, "[::1]:8443", "drain's server");
	CHECK_INT(P("drain\n", &id), ADMIN_BAD, "drain without a server");
	CHECK_INT(P("drain \n", &id), ADMIN_BAD, "drain, empty server");
	CHECK_INT(P("drain a b\n", &id), ADMIN_BAD, "drain, two words");
	CHECK_INT(P("disablex 1.2.3.4:5\n", &id), ADMIN_BAD, "not disable");
	CHECK_INT(P("kill route=a.example\n", &id), ADMIN_KILL_ROUTE, "kill route=");
	CHECK_STR(id.word, "a.example", "kill route='s name");
	CHECK_INT(P("kill server=10.0.0.2:443\n", &id), ADMIN_KILL_SERVER, "kill server=");
	CHECK_STR(id.word, "10.0.0.2:443", "kill server='s address");
	CHECK_INT(P("kill route=\n", &id), ADMIN_BAD, "kill route= empty");
	CHECK_INT(P("kill host=x\n", &id), ADMIN_BAD, "kill host= is no command");
	memset(big, 'a', sizeof(big));
	CHECK_INT(admin_parse(big, sizeof(big), &id), ADMIN_BAD, "too long");

	memset(rows, 0, sizeof(rows));
	rows[0].id = 9;
	strcpy(rows[0].client, "10.0.0.1:5000");
	rows[0].phase = "hello";
	rows[1].id = 3;
	strcpy(rows[1].client, "10.0.0.2:6000");
	strcpy(rows[1].sni, "a.example");
	strcpy(rows[1].backend, "10.1.0.1:443");
	rows[1].phase = "half-closed-c2s";
	rows[1].age_ms = 1500;
	rows[1].idle_ms = 20;
	rows[1].c2s = 700;
	rows[1].s2c = 1000;
	rows[1].client_tcp = "CLOSE_WAIT";
	rows[1].server_tcp = "FIN_WAIT2";
	rows[2].id = 5;		/* a QUIC flow: no TCP state, datagrams counted */
	strcpy(rows[2].client, "10.0.0.3:7000");
	strcpy(rows[2].sni, "q.example");
	strcpy(rows[2].backend, "10.1.0.2:443");
	rows[2].phase = "relay";
	rows[2].age_ms = 40;
	rows[2].idle_ms = 10;
	rows[2].c2s = 2400;
	rows[2].s2c = 3000;
	rows[2].proto = "quic";
	rows[2].dgrams[0] = 2;
	rows[2].dgrams[1] = 3;
	admin_table(&out, rows, 3);
	mbuf_append(&out, "", 1);
	CHECK(!out.oom, "oom");
	CHECK_STR(out.p, "id\tclient\tsni\tbackend\tphase\tage_ms\tidle_ms\tc2s_bytes\t"
	    "s2c_bytes\tclient_tcp\tserver_tcp\tproto\tc2s_datagrams\ts2c_datagrams\n"
	    "3\t10.0.0.2:6000\ta.example\t10.1.0.1:443\thalf-closed-c2s\t1500\t20\t700\t1000\t"
	    "CLOSE_WAIT\tFIN_WAIT2\ttcp\t-\t-\n"
	    "5\t10.0.0.3:7000\tq.example\t10.1.0.2:443\trelay\t40\t10\t2400\t3000\t-\t-\t"
	    "quic\t2\t3\n"
	    "9\t10.0.0.1:5000\t-\t-\thello\t0\t0\t0\t0\t-\t-\ttcp\t-\t-\n", "table");
	mbuf_free(&out);
	return test_done();
}
