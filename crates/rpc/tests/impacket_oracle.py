"""Oracle for the rsmbd-rpc ignored test: impacket encodes requests and decodes answers.

encode: prints "name opnum hex" lines (request stubs).
decode: reads "name hex" lines (response stubs) and prints decoded fields.
"""
import sys
from impacket.dcerpc.v5 import srvs, wkst, lsad, lsat
from impacket.dcerpc.v5.dtypes import NULL

HANDLE = None


def share_enum(level):
    r = srvs.NetrShareEnum()
    r['ServerName'] = '\\\\FILESRV\x00'
    r['InfoStruct']['Level'] = level
    r['InfoStruct']['ShareInfo']['tag'] = level
    r['InfoStruct']['ShareInfo']['Level%d' % level]['Buffer'] = NULL
    r['PreferedMaximumLength'] = 0xffffffff
    r['ResumeHandle'] = 0
    return r


def share_get_info(name, level):
    r = srvs.NetrShareGetInfo()
    r['ServerName'] = NULL
    r['NetName'] = name + '\x00'
    r['Level'] = level
    return r


def server_get_info(level):
    r = srvs.NetrServerGetInfo()
    r['ServerName'] = NULL
    r['Level'] = level
    return r


def wksta_get_info(level):
    r = wkst.NetrWkstaGetInfo()
    r['ServerName'] = NULL
    r['Level'] = level
    return r


def open_policy2():
    r = lsad.LsarOpenPolicy2()
    r['SystemName'] = NULL
    r['ObjectAttributes']['RootDirectory'] = NULL
    r['ObjectAttributes']['ObjectName'] = NULL
    r['ObjectAttributes']['SecurityDescriptor'] = NULL
    r['ObjectAttributes']['SecurityQualityOfService'] = NULL
    r['DesiredAccess'] = 0x02000000
    return r


def get_user_name():
    r = lsat.LsarGetUserName()
    r['SystemName'] = NULL
    r['UserName'] = NULL
    r['DomainName'] = NULL
    return r


# Stands for the policy handle; the test substitutes the one LsarOpenPolicy2 returned.
PLACEHOLDER = b'\xaa' * 20


def query_info(cls, level):
    r = cls()
    r['PolicyHandle'] = PLACEHOLDER
    r['InformationClass'] = level
    return r


def lookup_sids(cls):
    r = cls()
    r['PolicyHandle'] = PLACEHOLDER
    sids = ['S-1-5-21-1-2-3-1001', 'S-1-5-32-544']
    r['SidEnumBuffer']['Entries'] = len(sids)
    for sid in sids:
        item = lsat.LSAPR_SID_INFORMATION()
        item['Sid'].fromCanonical(sid)
        r['SidEnumBuffer']['SidInfo'].append(item)
    r['TranslatedNames']['Names'] = NULL
    r['LookupLevel'] = lsat.LSAP_LOOKUP_LEVEL.LsapLookupWksta
    return r


def lookup_names():
    r = lsat.LsarLookupNames()
    r['PolicyHandle'] = PLACEHOLDER
    names = ['bob', 'FILESRV\\carol']
    r['Count'] = len(names)
    for name in names:
        item = lsat.RPC_UNICODE_STRING()
        item['Data'] = name
        r['Names'].append(item)
    r['TranslatedSids']['Sids'] = NULL
    r['LookupLevel'] = lsat.LSAP_LOOKUP_LEVEL.LsapLookupWksta
    return r


def close():
    r = lsad.LsarClose()
    r['ObjectHandle'] = PLACEHOLDER
    return r


CASES = {
    'enum0': ('srvsvc', share_enum(0), srvs.NetrShareEnumResponse),
    'enum1': ('srvsvc', share_enum(1), srvs.NetrShareEnumResponse),
    'enum2': ('srvsvc', share_enum(2), srvs.NetrShareEnumResponse),
    'get1': ('srvsvc', share_get_info('data', 1), srvs.NetrShareGetInfoResponse),
    'get2': ('srvsvc', share_get_info('IPC$', 2), srvs.NetrShareGetInfoResponse),
    'get501': ('srvsvc', share_get_info('data', 501), srvs.NetrShareGetInfoResponse),
    'get1005': ('srvsvc', share_get_info('data', 1005), srvs.NetrShareGetInfoResponse),
    'srv100': ('srvsvc', server_get_info(100), srvs.NetrServerGetInfoResponse),
    'srv101': ('srvsvc', server_get_info(101), srvs.NetrServerGetInfoResponse),
    'srv102': ('srvsvc', server_get_info(102), srvs.NetrServerGetInfoResponse),
    'wks100': ('wkssvc', wksta_get_info(100), wkst.NetrWkstaGetInfoResponse),
    'wks101': ('wkssvc', wksta_get_info(101), wkst.NetrWkstaGetInfoResponse),
    'wks102': ('wkssvc', wksta_get_info(102), wkst.NetrWkstaGetInfoResponse),
    'open2': ('lsarpc', open_policy2(), lsad.LsarOpenPolicy2Response),
    'user': ('lsarpc', get_user_name(), lsat.LsarGetUserNameResponse),
    'q3': ('lsarpc', query_info(lsad.LsarQueryInformationPolicy, 3),
           lsad.LsarQueryInformationPolicyResponse),
    'q5': ('lsarpc', query_info(lsad.LsarQueryInformationPolicy2, 5),
           lsad.LsarQueryInformationPolicy2Response),
    'q12': ('lsarpc', query_info(lsad.LsarQueryInformationPolicy2, 12),
            lsad.LsarQueryInformationPolicy2Response),
    'sids': ('lsarpc', lookup_sids(lsat.LsarLookupSids), lsat.LsarLookupSidsResponse),
    'sids2': ('lsarpc', lookup_sids(lsat.LsarLookupSids2), lsat.LsarLookupSids2Response),
    'names': ('lsarpc', lookup_names(), lsat.LsarLookupNamesResponse),
    'close': ('lsarpc', close(), lsad.LsarCloseResponse),
}


def main():
    if sys.argv[1] == 'encode':
        for name, (pipe, req, _) in CASES.items():
            print(name, pipe, req.opnum, req.getData().hex())
        return
    for line in sys.stdin:
        name, data = line.split()
        resp = CASES[name][2](bytes.fromhex(data))
        print('==', name)
        resp.dump()
        if name == 'q5':
            sid = resp['PolicyInformation']['PolicyAccountDomainInfo']['DomainSid']
            print('ACCOUNT SID', sid.formatCanonical())


main()
